"""The API key is sent to the server but never shows in reprs, logs or errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cm2.llm.config import LLMConfig
from cm2.llm.factory import make_client
from cm2.llm.openai_backend import OpenAIBackend
from cm2.llm.protocol import ChatRequest, LLMError
from cm2.llm.testing import BackgroundServer, FakeOpenAIServer, FaultConfig

MakeConfig = Callable[..., LLMConfig]
KEY = "sk-test-SECRET-4f9a1c77"


@pytest.fixture
def key_in_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CM2_TEST_LLM_KEY", KEY)
    return KEY


def hi() -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "hi"}])


def test_key_is_sent_as_bearer_token(key_in_env: str, make_config: MakeConfig) -> None:
    with FakeOpenAIServer() as server:
        asyncio.run(OpenAIBackend(make_config(server.base_url)).chat(hi()))
    assert server.authorizations == [f"Bearer {KEY}"]


def test_no_key_no_header(make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CM2_TEST_LLM_KEY", raising=False)
    with FakeOpenAIServer() as server:
        backend = OpenAIBackend(make_config(server.base_url))
        asyncio.run(backend.chat(hi()))
    assert server.authorizations == [None]
    assert "api_key=None" in repr(backend)


def test_key_never_in_repr(key_in_env: str, make_config: MakeConfig) -> None:
    config = make_config("http://127.0.0.1:9/v1")
    backend = OpenAIBackend(config)
    texts = [repr(config), str(config), config.model_dump_json(), repr(backend), repr(make_client(config))]
    texts.append(repr(config.api_key()))
    assert all(KEY not in text for text in texts)
    assert "**********" in repr(backend)
    assert config.api_key() is not None and config.api_key().get_secret_value() == KEY  # type: ignore[union-attr]


def test_key_never_in_logs_or_errors(
    key_in_env: str, make_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    async def echo_headers(request: Request) -> Response:
        # A careless server that echoes the Authorization header in its error message.
        return JSONResponse({"error": {"message": f"bad key {request.headers.get('authorization')}"}}, 401)

    app = Starlette(routes=[Route("/v1/chat/completions", echo_headers, methods=["POST"])])
    caplog.set_level(logging.DEBUG)
    with BackgroundServer(app) as careless, FakeOpenAIServer(faults=FaultConfig(error_500=1.0)) as failing:
        with pytest.raises(LLMError) as unauthorized:
            asyncio.run(OpenAIBackend(make_config(f"{careless.url}/v1")).chat(hi()))
        with pytest.raises(LLMError) as exhausted:
            asyncio.run(OpenAIBackend(make_config(failing.base_url, max_retries=1)).chat(hi()))
        with pytest.raises(LLMError) as refused:
            asyncio.run(OpenAIBackend(make_config("http://127.0.0.1:9/v1", max_retries=0)).chat(hi()))
    assert "HTTP 401" in str(unauthorized.value) and "**********" in str(unauthorized.value)
    for error in (unauthorized.value, exhausted.value, refused.value):
        assert KEY not in str(error) and KEY not in repr(error)
    assert caplog.records, "expected retry warnings and httpx debug logs"
    assert KEY not in caplog.text
