"""The policy protocol: what the episode runner asks of a model, token-level or chat-level."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from cm2.schema import Message, ToolSpec


class SamplingParams(BaseModel):
    """Sampling settings for one assistant step."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = Field(default=512, ge=1)
    seed: int | None = None


@dataclass
class Generation:
    """One assistant step as produced by the policy.

    Token policies fill `token_ids` (the sampled tokens, stop token included when one was sampled),
    `logprobs`, and `stop_text` (the text of a sampled special stop token, which `text` leaves out);
    chat policies leave them empty and may return the parsed `message` directly.
    """

    text: str
    token_ids: list[int] = field(default_factory=list)
    stop_text: str = ""
    logprobs: list[float] | None = None
    finish_reason: str = "stop"
    message: Message | None = None


@runtime_checkable
class ChatPolicy(Protocol):
    """A policy behind a chat API (e.g. an OpenAI-compatible endpoint): sees messages, not tokens."""

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingParams) -> Generation:
        """The next assistant message."""
        ...


@runtime_checkable
class TokenPolicy(Protocol):
    """A policy that continues token sequences (an in-process model being trained)."""

    tokenizer: Any

    async def continue_tokens(self, context_ids: list[int], sampling: SamplingParams) -> Generation:
        """Sample a continuation of `context_ids` until a stop token or stop string."""
        ...


Policy = ChatPolicy | TokenPolicy
