"""The policy protocol: what the episode runner asks of a model, token-level or chat-level."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from cm2.schema import Message, ToolSpec


class SamplingConfig(BaseModel):
    """Sampling settings for one assistant step."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = Field(default=512, ge=1)
    seed: int | None = None


CompileShapes = Literal["static", "dynamic"]
"""How the decode step is compiled across batch buckets: once per bucket, or with a symbolic batch dimension."""

WindowAttention = Literal["on", "off"]
"""Whether a static cache's sliding-window layers attend over their window only (cm2.rollout.windowed_cache)."""


class DecoderConfig(BaseModel):
    """How the in-process policy decodes (`TransformersPolicy`)."""

    engine: Literal["loop", "generate"] = Field(
        default="loop",
        description="loop: cm2's decode loop (static cache + torch.compile on the GPU, rows handed back as they "
        "stop, shared prompts prefilled once); generate: transformers' `generate` with a dynamic cache.",
    )
    cache: Literal["auto", "static", "dynamic"] = Field(
        default="auto", description="KV cache of the loop engine; auto: static on CUDA, dynamic elsewhere."
    )
    compile: Literal["auto", "on", "off"] = Field(
        default="auto", description="torch.compile the one-token step (CUDA graphs); auto: with a static cache on CUDA."
    )
    compile_shapes: CompileShapes = Field(
        default="static",
        description="static: one compilation per batch bucket; dynamic: torch's automatic dynamic shapes, so after "
        "the second bucket the batch dimension is symbolic and later buckets only record their CUDA graphs "
        "(benchmarks/decoder_compile.py; not yet measured on a GPU).",
    )
    window_attention: WindowAttention = Field(
        default="off",
        description="on: with a static cache, a sliding-window layer attends over its window only, not the whole "
        "cache (cm2.rollout.windowed_cache; Gemma-style models with SDPA attention, else ignored): the same tokens "
        "and log-probs up to rounding, fewer bytes read a step (benchmarks/decoder_window.py).",
    )
    max_batch_size: int = Field(default=32, ge=1, description="Rows per batch (the static cache holds this many).")
    batch_buckets: int = Field(
        default=4,
        ge=1,
        description="Static caches (and compiled steps) for this many batch sizes: max_batch_size, its half, its "
        "quarter, …; a batch decodes in the smallest that holds it (1: always max_batch_size rows).",
    )
    max_cache_len: int = Field(
        default=4096, ge=16, description="Tokens per row of the static cache: prompt and new tokens of one step."
    )
    check_every: int = Field(default=8, ge=1, description="Decode steps between checks for stopped rows.")


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

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> Generation:
        """The next assistant message."""
        ...


@runtime_checkable
class TokenPolicy(Protocol):
    """A policy that continues token sequences (an in-process model being trained)."""

    tokenizer: Any

    async def continue_tokens(self, context_ids: list[int], sampling: SamplingConfig) -> Generation:
        """Sample a continuation of `context_ids` until a stop token or stop string."""
        ...


Policy = ChatPolicy | TokenPolicy
