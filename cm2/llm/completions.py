"""`POST /v1/completions` for harnesses that format prompts themselves: a raw prompt continued as it is."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cm2.llm.protocol import ChatResponse


class PromptSampling(BaseModel):
    """How to continue a raw prompt: the sampling fields of a completions (or chat) request."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: list[str] | None = None

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_as_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


@runtime_checkable
class Completer(Protocol):
    """A generator that can also continue a raw prompt; the server then offers `/v1/completions`."""

    async def complete(self, prompt: str, sampling: PromptSampling) -> ChatResponse: ...


class CompletionsBody(BaseModel):
    """The part of an OpenAI completions request the server reads; other fields are tolerated."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    prompt: str | list[str]
    max_tokens: int | None = Field(default=16, ge=1, description="OpenAI's default is 16 tokens.")
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=64)
    echo: bool = False
    stream: bool = False


def error_response(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    """An OpenAI-style error body."""
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)


async def completions(http: Request, generator: Completer, model_name: str) -> Response:
    """Answer one completions request with `generator`."""
    try:
        body = CompletionsBody.model_validate(await http.json())
    except ValueError as exc:  # not JSON, or not a completions request
        return error_response(400, str(exc) if isinstance(exc, ValidationError) else "the request body is not JSON")
    if body.stream:
        return error_response(400, "stream=true is not supported on /v1/completions")
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    sampling = PromptSampling.model_validate(body, from_attributes=True)
    jobs = [generator.complete(prompt, sampling) for prompt in prompts for _ in range(body.n)]
    answers = await asyncio.gather(*jobs)
    choices = [
        {
            "index": i,
            "text": (prompts[i // body.n] if body.echo else "") + answer.text,
            "logprobs": None,
            "finish_reason": answer.finish_reason or "stop",
        }
        for i, answer in enumerate(answers)
    ]
    prompt_tokens = sum(a.usage.prompt_tokens for a in answers[:: body.n])
    completion_tokens = sum(a.usage.completion_tokens for a in answers)
    return JSONResponse(
        {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )
