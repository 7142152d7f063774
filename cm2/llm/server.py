"""The OpenAI-compatible HTTP app behind `cm2 serve` (alias `cm2 llm serve`), over any text generator.

Routes: `POST /v1/chat/completions`, `GET /v1/models`, `GET /health`, and `POST /v1/completions` when the
generator can continue raw prompts (`cm2.llm.completions`). `cm2.eval.serve` runs it behind
`cm2.llm.guard` (Host allow-list, no cross-origin requests, optional API key). Tools go into the chat template and
`<tool_call>` blocks in the answer come back as `tool_calls`. `response_format` (json_object, json_schema,
or llama.cpp's json_object with a schema) is honoured by asking for JSON in the prompt, generating, and
validating; an answer that fails is generated again, up to `json_attempts` times, after which the last
text is returned as it is (clients validate). Unknown request fields (`store`, `user`, …) are ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cm2.llm.completions import Completer, completions, error_response
from cm2.llm.protocol import ChatRequest, ChatResponse, LLMError, Usage
from cm2.llm.structured import StructuredOutputError, parse_and_validate

log = logging.getLogger("cm2.llm.server")


class TextGenerator(Protocol):
    """What the server needs from a backend: one generation, `json_schema` only shaping the prompt."""

    async def generate(self, request: ChatRequest) -> ChatResponse: ...


class CompletionBody(BaseModel):
    """The part of an OpenAI chat-completions request the server reads; other fields are tolerated."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=64)
    stream: bool = False
    response_format: dict[str, Any] | None = None

    def schema_wanted(self) -> dict[str, Any] | None:
        """The JSON schema the answer must satisfy, or None when no JSON is asked for."""
        fmt = self.response_format or {}
        kind = fmt.get("type")
        if kind == "json_schema":
            spec = fmt.get("json_schema") or {}
            schema = spec.get("schema")
            return schema if isinstance(schema, dict) else {"type": "object"}
        if kind == "json_object":
            schema = fmt.get("schema")
            return schema if isinstance(schema, dict) else {"type": "object"}
        if kind not in (None, "text"):
            raise ValueError(f"response_format.type {kind!r} is not supported (text, json_object, json_schema)")
        return None

    def to_request(self) -> ChatRequest:
        for index, message in enumerate(self.messages):
            if message.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                raise ValueError(f"messages[{index}].role: {message.get('role')!r} is not a chat role")
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        return ChatRequest(
            messages=[{**m, "role": "system"} if m.get("role") == "developer" else m for m in self.messages],
            tools=self.tools or None,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            stop=stop or None,
            seed=self.seed,
            json_schema=self.schema_wanted(),
        )


async def _one_answer(generator: TextGenerator, request: ChatRequest, json_attempts: int) -> ChatResponse:
    """One choice; with a schema, generated again until the answer validates (or attempts run out)."""
    schema = request.json_schema
    usage = Usage()
    for attempt in range(1, (json_attempts if schema is not None else 1) + 1):
        response = await generator.generate(request)
        usage = usage + response.usage
        response.usage = usage
        if schema is None:
            return response
        try:
            value = parse_and_validate(response.text, schema)
        except StructuredOutputError as exc:
            log.info("JSON attempt %d/%d failed: %s", attempt, json_attempts, exc)
            continue
        response.text = json.dumps(value, ensure_ascii=False)
        return response
    return response


def _choice(index: int, response: ChatResponse) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": response.text}
    if response.tool_calls:
        message["tool_calls"] = response.tool_calls
    return {"index": index, "message": message, "finish_reason": response.finish_reason or "stop"}


def create_app(generator: TextGenerator, model_name: str, *, json_attempts: int = 3) -> Starlette:
    """The ASGI app serving `generator` under the name `model_name`."""

    async def chat_completions(http: Request) -> Response:
        try:
            raw = await http.json()
        except ValueError:
            return error_response(400, "the request body is not JSON")
        try:
            body = CompletionBody.model_validate(raw)
            request = body.to_request()
        except (ValidationError, ValueError) as exc:
            return error_response(400, str(exc))
        try:
            answers = await asyncio.gather(*(_one_answer(generator, request, json_attempts) for _ in range(body.n)))
        except LLMError as exc:
            return error_response(500, str(exc), "server_error")
        completion = sum(a.usage.completion_tokens for a in answers)
        prompt = sum(a.usage.prompt_tokens for a in answers)
        result = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": [_choice(i, a) for i, a in enumerate(answers)],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }
        if body.stream:
            return StreamingResponse(_as_events(result), media_type="text/event-stream")
        return JSONResponse(result)

    async def models(http: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "cm2"}]})

    async def health(http: Request) -> Response:
        return JSONResponse({"status": "ok", "model": model_name})

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    if isinstance(generator, Completer):

        async def complete(http: Request) -> Response:
            return await completions(http, generator, model_name)

        routes.append(Route("/v1/completions", complete, methods=["POST"]))
    return Starlette(routes=routes)


async def _as_events(result: dict[str, Any]) -> AsyncIterator[str]:
    """A finished completion as server-sent events (one content chunk per choice, then the end)."""
    base = {k: result[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    for choice in result["choices"]:
        delta = dict(choice["message"])
        if delta.get("tool_calls"):
            delta["tool_calls"] = [{**call, "index": i} for i, call in enumerate(delta["tool_calls"])]
        chunk = {**base, "choices": [{"index": choice["index"], "delta": delta, "finish_reason": None}]}
        yield f"data: {json.dumps(chunk)}\n\n"
        end = {**base, "choices": [{"index": choice["index"], "delta": {}, "finish_reason": choice["finish_reason"]}]}
        yield f"data: {json.dumps(end)}\n\n"
    yield f"data: {json.dumps({**base, 'choices': [], 'usage': result['usage']})}\n\n"
    yield "data: [DONE]\n\n"
