"""A client for any OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp server, hosted APIs)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal

import httpx2

from cm2.llm.config import LLMConfig, request_defaults
from cm2.llm.endpoints import Endpoint, EndpointPool, join_url
from cm2.llm.protocol import ChatRequest, ChatResponse, LLMError, Usage
from cm2.llm.redact import install_log_redaction, redact_text, redact_url
from cm2.llm.retry import Backoff, is_retryable_exception, is_retryable_status, retry_after_seconds
from cm2.llm.structured import (
    DIALECT_ORDER,
    Dialect,
    StructuredOutputError,
    check_schema,
    is_format_rejection,
    next_dialect,
    parse_answer,
    response_format,
    with_instruction,
)

log = logging.getLogger("cm2.llm")
install_log_redaction()  # httpx2 logs every request's full URL at INFO


@dataclass
class _Outcome:
    """What one HTTP attempt came to."""

    kind: Literal["ok", "retry", "fallback", "fatal"]
    data: dict[str, Any] | None = None
    error: str = ""
    retry_after: float | None = None


@dataclass
class _LoopState:
    """The HTTP client and semaphore of one event loop (both are bound to the loop that first uses them)."""

    loop: asyncio.AbstractEventLoop
    http: httpx2.AsyncClient
    semaphore: asyncio.Semaphore


class OpenAIBackend:
    """`LLMClient` over the OpenAI chat-completions HTTP API, with retries, load balancing and JSON output.

    Transport failures (5xx, 429, timeouts, connection errors, unreadable bodies) are retried up to
    `max_retries` times with exponential backoff and jitter, each time on the best endpoint of the pool.
    When the request carries `json_schema`, an answer that is truncated, not JSON, or off-schema is asked
    again up to `json_attempts` times in all. Usage of every attempt is summed into the response.
    """

    def __init__(self, config: LLMConfig, *, transport: httpx2.AsyncBaseTransport | None = None):
        self.config = config
        self.pool = EndpointPool(
            config.base_urls, failure_threshold=config.failure_threshold, cooldown_s=config.cooldown_s
        )
        self.backoff = Backoff(base_s=config.backoff_base_s, cap_s=config.backoff_max_s)
        self.prices = config.price_table()
        self._key = config.api_key()
        self._transport = transport
        self._state: _LoopState | None = None

    def __repr__(self) -> str:
        key = "'**********'" if self._key is not None else "None"
        urls = [redact_url(url) for url in self.config.base_urls]
        return f"OpenAIBackend(model={self.config.model!r}, base_urls={urls!r}, api_key={key})"

    def identity(self) -> dict[str, Any]:
        """What makes two backends answer alike (for cache keys): not the endpoint, not the dialect."""
        return {"backend": "openai", "model": self.config.model, "defaults": request_defaults(self.config)}

    async def aclose(self) -> None:
        if self._state is not None and self._state.loop is asyncio.get_running_loop():
            await self._state.http.aclose()
        self._state = None

    async def __aenter__(self) -> OpenAIBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            limits = httpx2.Limits(
                max_connections=max(100, self.config.max_concurrency),
                max_keepalive_connections=self.config.max_concurrency,
            )
            headers = {"Authorization": f"Bearer {self._key.get_secret_value()}"} if self._key else {}
            http = httpx2.AsyncClient(
                headers=headers, limits=limits, timeout=self.config.timeout_s, transport=self._transport
            )
            self._state = _LoopState(loop, http, asyncio.Semaphore(self.config.max_concurrency))
        return self._state

    def _redact(self, text: str) -> str:
        """`text` without the API key and without credentials of any URL in it."""
        if self._key is not None:
            secret = self._key.get_secret_value()
            if secret:
                text = text.replace(secret, "**********")
        return redact_text(text)

    def dialect_for(self, endpoint: Endpoint) -> Dialect:
        choice = self.config.structured_output
        if choice != "auto":
            return choice
        return endpoint.dialect or DIALECT_ORDER[0]

    def _body(self, request: ChatRequest, dialect: Dialect | None) -> dict[str, Any]:
        messages = [_sendable(m) for m in request.messages]
        if request.json_schema is not None and dialect == "plain":
            messages = with_instruction(messages, request.json_schema)
        body: dict[str, Any] = {"model": self.config.model, "messages": messages}
        optional = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            self.config.max_tokens_param: request.max_tokens,
            "seed": request.seed,
            "stop": request.stop,
            "reasoning_effort": request.reasoning_effort,
            "tools": request.tools,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if request.json_schema is not None and dialect is not None:
            fmt = response_format(dialect, request.json_schema, self.config.json_schema_strict)
            if fmt is not None:
                body["response_format"] = fmt
        body.update(request.extra_body)
        return body

    async def _attempt(self, endpoint: Endpoint, body: dict[str, Any], dialect: Dialect | None) -> _Outcome:
        state = self._loop_state()
        url = join_url(endpoint.base_url, "chat/completions")
        shown = redact_url(url)
        try:
            async with state.semaphore:
                # httpx2's timeout bounds each phase (connect, each read); this bounds the whole request.
                async with asyncio.timeout(self.config.timeout_s):
                    response = await state.http.post(url, json=body)
        except TimeoutError:
            return _Outcome("retry", error=f"no answer from {shown} within {self.config.timeout_s:g}s")
        except httpx2.HTTPError as exc:
            what = f"{type(exc).__name__} from {shown}" + (f": {exc}" if str(exc) else "")
            return _Outcome("retry" if is_retryable_exception(exc) else "fatal", error=self._redact(what))
        status = response.status_code
        if status >= 400:
            detail = self._redact(response.text[:500])
            error = f"HTTP {status} from {shown}: {detail}"
            if dialect is not None and dialect != "plain" and is_format_rejection(status, detail):
                if self.config.structured_output == "auto":
                    return _Outcome("fallback", error=error)
                return _Outcome(
                    "fatal", error=f"{error} (the server seems to reject structured_output={dialect!r}; try 'auto')"
                )
            if is_retryable_status(status):
                return _Outcome("retry", error=error, retry_after=retry_after_seconds(response))
            return _Outcome("fatal", error=error)
        try:
            data = response.json()
            message = data["choices"][0]["message"]
            if not isinstance(message, dict):
                raise TypeError("message is not an object")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            preview = self._redact(response.text[:200])
            return _Outcome("retry", error=f"unreadable answer from {shown} ({exc!s}): {preview!r}")
        return _Outcome("ok", data=data)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Send `request`; raises LLMError when it fails for good."""
        request = self.config.with_defaults(request)
        schema = request.json_schema
        if schema is not None:
            try:
                check_schema(schema)
            except StructuredOutputError as exc:
                raise LLMError(str(exc)) from exc
        usage = Usage()
        retries = content_failures = 0
        while True:
            with self.pool.use() as endpoint:
                dialect = self.dialect_for(endpoint) if schema is not None else None
                outcome = await self._attempt(endpoint, self._body(request, dialect), dialect)
                if outcome.kind == "retry":
                    self.pool.failed(endpoint)
                elif outcome.kind == "ok":
                    self.pool.succeeded(endpoint)
            if outcome.kind == "fatal":
                raise LLMError(outcome.error, usage=self._cost(usage))
            if outcome.kind == "fallback":
                fallback = next_dialect(dialect) if dialect is not None else None
                if fallback is None:
                    raise LLMError(outcome.error, usage=self._cost(usage))
                shown_base = redact_url(endpoint.base_url)
                log.warning("%s rejects response_format %r; falling back to %r", shown_base, dialect, fallback)
                endpoint.dialect = fallback
                continue
            if outcome.kind == "retry":
                if retries >= self.config.max_retries:
                    raise LLMError(
                        f"gave up after {retries + 1} attempts; last error: {outcome.error}", usage=self._cost(usage)
                    )
                delay = self.backoff.delay(retries, outcome.retry_after)
                retries += 1
                log.warning("retry %d/%d in %.2fs: %s", retries, self.config.max_retries, delay, outcome.error)
                await asyncio.sleep(delay)
                continue
            assert outcome.data is not None
            response = self._response(outcome.data)
            usage = usage + response.usage
            response.usage = self._cost(usage, response.model)
            if schema is None:
                return response
            try:
                response.parsed = parse_answer(response.text, response.finish_reason, schema)
                return response
            except StructuredOutputError as exc:
                content_failures += 1
                if content_failures >= self.config.json_attempts:
                    raise LLMError(
                        f"no valid JSON answer from {self.config.model!r} after {content_failures} attempts; "
                        f"last problem: {exc}",
                        usage=response.usage,
                    ) from exc
                log.warning("JSON attempt %d/%d failed: %s", content_failures, self.config.json_attempts, exc)

    def _cost(self, usage: Usage, served: str | None = None) -> Usage:
        """Price by the configured model name; by the name the server answered with when only that has a price."""
        name = self.config.model
        if served and self.prices.price_for(name) is None:
            name = served
        return self.prices.priced(name, usage)

    def _response(self, data: dict[str, Any]) -> ChatResponse:
        choice = data["choices"][0]
        message = choice["message"]
        raw_usage = data.get("usage") or {}
        return ChatResponse(
            text=message.get("content") or "",
            usage=Usage(
                prompt_tokens=int(raw_usage.get("prompt_tokens") or 0),
                completion_tokens=int(raw_usage.get("completion_tokens") or 0),
            ),
            model=str(data.get("model") or self.config.model),
            finish_reason=choice.get("finish_reason"),
            tool_calls=message.get("tool_calls") or None,
        )


def _sendable(message: dict[str, Any]) -> dict[str, Any]:
    """Some servers (llama.cpp) answer 500 to `content: null`; send an empty string instead."""
    if message.get("content", "") is None:
        return {**message, "content": ""}
    return message
