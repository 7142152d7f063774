"""One chat request to an endpoint, timed: what `cm2 llm ping` shows."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from cm2.llm.config import LLMConfig
from cm2.llm.openai_backend import OpenAIBackend
from cm2.llm.protocol import ChatRequest, ChatResponse, LLMError

PING_DEFAULTS = {"timeout_s": 60.0, "max_retries": 1}
"""A ping gives up sooner than a job: one retry, a minute."""


@dataclass(frozen=True)
class Ping:
    """The answer, the seconds it took and, for a JSON answer, the structured-output dialect used."""

    response: ChatResponse
    latency_s: float
    dialect: str

    def lines(self) -> list[str]:
        """The answer, then its parsed JSON and tool calls (when any), then model, latency and token counts."""
        r, usage = self.response, self.response.usage
        parsed = [f"parsed JSON ({self.dialect}): {json.dumps(r.parsed, ensure_ascii=False)}"] if r.parsed else []
        calls = [f"tool calls: {json.dumps(r.tool_calls, ensure_ascii=False)}"] if r.tool_calls else []
        return [
            r.text,
            *parsed,
            *calls,
            f"model {r.model} · latency {self.latency_s:.2f}s · prompt {usage.prompt_tokens} tokens · "
            f"completion {usage.completion_tokens} tokens · finish {r.finish_reason}",
        ]


def ping(endpoint: LLMConfig, prompt: str, *, json_schema: dict[str, Any] | None = None, **sampling: Any) -> Ping:
    """Send one user message to `endpoint` and time the answer; an `LLMError` saying after how long when it fails
    for good."""
    request = ChatRequest(messages=[{"role": "user", "content": prompt}], json_schema=json_schema, **sampling)

    async def once() -> tuple[ChatResponse, str]:
        async with OpenAIBackend(endpoint) as backend:
            return await backend.chat(request), backend.dialect_for(backend.pool.endpoints[0])

    start = time.perf_counter()
    try:
        response, dialect = asyncio.run(once())
    except LLMError as exc:
        raise LLMError(f"after {time.perf_counter() - start:.2f}s: {exc}", usage=exc.usage) from exc
    return Ping(response, time.perf_counter() - start, dialect)
