"""The one interface every LLM role (annotator, filter, compressor, judge, simulator) talks to."""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

ReasoningEffort = Literal["low", "medium", "high"]


class ChatRequest(BaseModel):
    """A chat completion request, independent of the backend that serves it."""

    model_config = ConfigDict(extra="forbid")

    messages: list[dict[str, Any]]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    json_schema: dict[str, Any] | None = Field(
        default=None, description="Ask for a JSON answer matching this schema; the reply is parsed."
    )
    reasoning_effort: ReasoningEffort | None = None
    tools: list[dict[str, Any]] | None = Field(
        default=None, description="Tool specifications (OpenAI function format) offered to the model."
    )
    extra_body: dict[str, Any] = Field(default_factory=dict)


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class ChatResponse(BaseModel):
    text: str
    parsed: Any = Field(default=None, description="The JSON value extracted when `json_schema` was set.")
    usage: Usage = Field(default_factory=Usage)
    model: str = ""
    finish_reason: str | None = None
    cached: bool = False
    tool_calls: list[dict[str, Any]] | None = Field(
        default=None, description="Tool calls the model made (OpenAI format), when the backend parses them."
    )


class LLMError(RuntimeError):
    """A request failed for good (after retries), or its answer could not be used.

    `usage` holds what the failed attempts consumed, when the backend knows (for cost accounting).
    """

    def __init__(self, message: str, *, usage: Usage | None = None):
        super().__init__(message)
        self.usage = usage


@runtime_checkable
class LLMClient(Protocol):
    """Anything that answers chat requests asynchronously."""

    async def chat(self, request: ChatRequest) -> ChatResponse: ...
