"""Structured output adapting to the server: auto fallback, remembered per endpoint, fixed dialects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from cm2.llm.config import LLMConfig
from cm2.llm.openai_backend import OpenAIBackend
from cm2.llm.protocol import ChatRequest, LLMError
from cm2.llm.testing import FakeOpenAIServer, FaultConfig

MakeConfig = Callable[..., LLMConfig]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def request() -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "Where?"}], json_schema=SCHEMA)


def answer(body: dict[str, Any]) -> str:
    return '<think>The user wants a city.</think>\n```json\n{"city": "Oslo"}\n```'


def formats(server: FakeOpenAIServer) -> list[Any]:
    return [(body.get("response_format") or {}).get("type") for body in server.requests]


def test_llama_cpp_style_server_falls_back_to_json_object_and_remembers(make_config: MakeConfig) -> None:
    faults = FaultConfig(reject_response_formats=["json_schema"])
    with FakeOpenAIServer(answer, faults=faults) as server:
        backend = OpenAIBackend(make_config(server.base_url))

        async def twice() -> list[Any]:
            return [await backend.chat(request()), await backend.chat(request())]

        first, second = asyncio.run(twice())
    assert first.parsed == second.parsed == {"city": "Oslo"}
    assert formats(server) == ["json_schema", "json_object", "json_object"]
    assert server.requests[1]["response_format"]["schema"] == SCHEMA
    assert backend.pool.endpoints[0].dialect == "json_object_schema"
    assert backend.pool.endpoints[0].failures == 0  # a rejected dialect is not an endpoint failure


def test_server_without_response_format_gets_the_plain_dialect(make_config: MakeConfig) -> None:
    faults = FaultConfig(reject_response_formats=["json_schema", "json_object"])
    with FakeOpenAIServer(answer, faults=faults) as server:
        backend = OpenAIBackend(make_config(server.base_url))
        response = asyncio.run(backend.chat(request()))
    assert response.parsed == {"city": "Oslo"}
    assert formats(server) == ["json_schema", "json_object", None]
    prompt = server.requests[-1]["messages"][-1]["content"]
    assert prompt.startswith("Where?\n\n") and json.dumps(SCHEMA) in prompt
    assert "response_format" not in server.requests[-1]


def test_dialect_is_remembered_per_endpoint(make_config: MakeConfig) -> None:
    strict = FaultConfig(reject_response_formats=["json_schema"])
    with FakeOpenAIServer(answer, faults=strict) as old, FakeOpenAIServer(answer) as modern:
        backend = OpenAIBackend(make_config(old.base_url, modern.base_url))

        async def several() -> None:
            for _ in range(4):
                await backend.chat(request())

        asyncio.run(several())
    assert formats(old) == ["json_schema", "json_object", "json_object"]
    assert set(formats(modern)) == {"json_schema"}
    assert [e.dialect for e in backend.pool.endpoints] == ["json_object_schema", None]


@pytest.mark.parametrize("dialect", ["json_schema", "json_object_schema", "plain"])
def test_fixed_dialect_is_used_as_is(make_config: MakeConfig, dialect: str) -> None:
    with FakeOpenAIServer(answer) as server:
        backend = OpenAIBackend(make_config(server.base_url, structured_output=dialect, json_schema_strict=True))
        assert asyncio.run(backend.chat(request())).parsed == {"city": "Oslo"}
    expected = {"json_schema": "json_schema", "json_object_schema": "json_object", "plain": None}[dialect]
    assert formats(server) == [expected]


def test_fixed_dialect_rejected_fails_clearly(make_config: MakeConfig) -> None:
    faults = FaultConfig(reject_response_formats=["json_schema"])
    with FakeOpenAIServer(answer, faults=faults) as server:
        backend = OpenAIBackend(make_config(server.base_url, structured_output="json_schema"))
        with pytest.raises(LLMError, match="reject structured_output='json_schema'; try 'auto'"):
            asyncio.run(backend.chat(request()))
    assert server.request_count == 1


def test_a_plain_server_error_does_not_change_the_dialect(make_config: MakeConfig) -> None:
    with FakeOpenAIServer(answer, faults=FaultConfig(plan=["error_500"])) as server:
        backend = OpenAIBackend(make_config(server.base_url))
        asyncio.run(backend.chat(request()))
    assert formats(server) == ["json_schema", "json_schema"]
    assert backend.pool.endpoints[0].dialect is None


def test_invalid_schema_fails_before_any_request(make_config: MakeConfig) -> None:
    with FakeOpenAIServer(answer) as server:
        backend = OpenAIBackend(make_config(server.base_url))
        bad = ChatRequest(messages=[{"role": "user", "content": "x"}], json_schema={"type": 12})
        with pytest.raises(LLMError, match="invalid JSON schema"):
            asyncio.run(backend.chat(bad))
    assert server.request_count == 0
