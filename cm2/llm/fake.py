"""A scripted in-memory backend for unit tests of the logic around LLM calls (not a model)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from cm2.llm.protocol import ChatRequest, ChatResponse, LLMError, Usage

Answer = str | ChatResponse | Exception
Handler = Callable[[ChatRequest], Answer | Awaitable[Answer]]


def _approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ScriptedLLM:
    """Answers each request with `handler(request)`; keeps every request for inspection.

    A handler may return text, a full `ChatResponse`, or an exception (which is raised).
    Token counts are approximated from character counts, so callers can compare prompt sizes.
    """

    def __init__(self, handler: Handler):
        self.handler = handler
        self.requests: list[ChatRequest] = []
        self.usage = Usage()

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        answer = self.handler(request)
        if isinstance(answer, Awaitable):
            answer = await answer
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, ChatResponse):
            response = answer
        else:
            prompt = "".join(str(m.get("content") or "") for m in request.messages)
            response = ChatResponse(
                text=answer,
                usage=Usage(prompt_tokens=_approx_tokens(prompt), completion_tokens=_approx_tokens(answer)),
                model="scripted",
                finish_reason="stop",
            )
            if request.json_schema is not None:
                response.parsed = _parse_json(answer)
        self.usage = self.usage + response.usage
        return response


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LLMError(f"scripted answer is not JSON: {exc.msg}") from exc
