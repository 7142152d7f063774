"""An OpenAI-compatible HTTP server whose answers come from a Python callable, with injected faults.

For reliability tests of anything that talks to an LLM endpoint: it is a real uvicorn server on
127.0.0.1 (a free port), not a mock of the client.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cm2.llm.testing.background import BackgroundServer

Fault = Literal["error_500", "error_429", "error_400", "error_401", "hang", "invalid_body", "truncated"]
Reply = str | dict[str, Any]
Responder = Callable[[dict[str, Any]], Reply | Awaitable[Reply]]

Fraction = Annotated[float, Field(ge=0, le=1)]


def format_rejection(kind: str) -> str:
    """What llama-cpp-python's server says (with HTTP 500) to a response_format type it does not know."""
    return (
        "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n"
        f"  Input should be 'text' or 'json_object' [type=literal_error, input_value={kind!r}]"
    )


class FaultConfig(BaseModel):
    """Which faults to inject. `plan` is consumed first, one entry per request (None = answer normally);
    after it, each request draws one fault from the fractions (seeded)."""

    model_config = ConfigDict(extra="forbid")

    error_500: Fraction = 0.0
    error_429: Fraction = 0.0
    error_400: Fraction = Field(default=0.0, description="A client error (not worth retrying).")
    error_401: Fraction = Field(default=0.0, description="Unauthorized: a wrong or missing API key.")
    hang: Fraction = Field(default=0.0, description="Sleep `hang_s` before answering (past a client timeout).")
    invalid_body: Fraction = Field(default=0.0, description="HTTP 200 whose body is not JSON.")
    truncated: Fraction = Field(default=0.0, description="Half the content, finish_reason 'length'.")
    hang_s: float = 30.0
    plan: list[Fault | None] = Field(default_factory=list)
    reject_response_formats: list[str] = Field(
        default_factory=list,
        description="response_format types answered with HTTP 500; ['json_schema'] behaves like llama-cpp-python.",
    )


@contextmanager
def refusing_base_url() -> Iterator[str]:
    """An OpenAI base URL on 127.0.0.1 whose port refuses connections: bound while the block runs (so no
    other server takes it), never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def word_count(text: str) -> int:
    return len(text.split())


def completion_body(
    content: str | None,
    *,
    model: str = "fake-model",
    finish_reason: str = "stop",
    prompt_tokens: int = 0,
    completion_tokens: int | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A chat-completion response body in the OpenAI format."""
    completion = word_count(content or "") if completion_tokens is None else completion_tokens
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
    }


def echo(body: dict[str, Any]) -> str:
    """The default responder: repeats the last user message."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return f"echo: {users[-1].get('content') if users else ''}"


def _prompt_words(body: dict[str, Any]) -> int:
    return sum(word_count(str(m.get("content") or "")) for m in body.get("messages", []))


async def _hang(request: Request, seconds: float) -> bool:
    """Wait `seconds`, or until the client disconnects (then False), so that stopping the server is quick."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return False
        await asyncio.sleep(0.02)
    return True


class FakeOpenAIServer(BackgroundServer):
    """Serve `/v1/chat/completions`, `/v1/models` and `/health` on 127.0.0.1 from a background thread.

    `responder(body)` gives the content (a string) or a whole response body (a dict). Usage counts words:
    prompt tokens = words of all message contents, completion tokens = words of the content. `latency_s`
    delays every answer. Counters: `request_count`, `requests` (bodies), `authorizations`, `faults`.
    """

    def __init__(
        self,
        responder: Responder = echo,
        *,
        faults: FaultConfig | None = None,
        seed: int = 0,
        latency_s: float = 0.0,
        model: str = "fake-model",
    ):
        self.responder = responder
        self.faults_config = faults or FaultConfig()
        self.latency_s = latency_s
        self.model = model
        self.request_count = 0
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []
        self.faults: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
            ]
        )
        super().__init__(app)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ending in /v1."""
        return f"{self.url}/v1"

    def _draw(self) -> Fault | None:
        cfg = self.faults_config
        with self._lock:
            index = self.request_count - 1
            if index < len(cfg.plan):
                return cfg.plan[index]
            roll = self._rng.random()
        for fault in ("error_500", "error_429", "error_400", "error_401", "hang", "invalid_body", "truncated"):
            share = float(getattr(cfg, fault))
            if roll < share:
                return fault
            roll -= share
        return None

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "cm2"}]})

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.request_count += 1
            self.requests.append(body)
            self.authorizations.append(request.headers.get("authorization"))
        fmt = body.get("response_format") or {}
        if fmt.get("type") in self.faults_config.reject_response_formats:
            self.faults["rejected_response_format"] += 1
            message = format_rejection(str(fmt.get("type")))
            return JSONResponse({"error": {"message": message, "type": "internal_server_error"}}, 500)
        fault = self._draw()
        if fault is not None:
            self.faults[fault] += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if fault == "error_500":
            return JSONResponse({"error": {"message": "injected failure", "type": "server_error"}}, 500)
        if fault == "error_400":
            return JSONResponse({"error": {"message": "injected bad request", "type": "invalid_request_error"}}, 400)
        if fault == "error_401":
            return JSONResponse({"error": {"message": "invalid API key", "type": "invalid_request_error"}}, 401)
        if fault == "error_429":
            return JSONResponse({"error": {"message": "slow down", "type": "rate_limited"}}, 429)
        if fault == "invalid_body":
            return Response('{"choices": [ {"message": oops', media_type="application/json")
        if fault == "hang" and not await _hang(request, self.faults_config.hang_s):
            return Response(status_code=499)  # the client gave up; nobody reads this
        reply = self.responder(body)
        if inspect.isawaitable(reply):
            reply = await reply
        if isinstance(reply, dict):
            return JSONResponse(reply)
        finish = "stop"
        if fault == "truncated":
            reply, finish = reply[: len(reply) // 2], "length"
        out = completion_body(
            reply, model=body.get("model") or self.model, finish_reason=finish, prompt_tokens=_prompt_words(body)
        )
        return Response(json.dumps(out), media_type="application/json")
