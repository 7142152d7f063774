"""The on-disk answer cache: hits make no HTTP call, cost nothing, survive restarts; failures are not kept."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cm2.llm.cache import CachedClient, ResponseCache, cache_key
from cm2.llm.config import LLMConfig
from cm2.llm.factory import make_client
from cm2.llm.openai_backend import OpenAIBackend
from cm2.llm.prices import ModelPrice, PriceTable
from cm2.llm.protocol import ChatRequest, LLMError
from cm2.llm.testing import FakeOpenAIServer, FaultConfig

MakeConfig = Callable[..., LLMConfig]
SCHEMA = {"type": "object", "required": ["n"]}


def ask(text: str, **fields: Any) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], **fields)


def test_second_identical_request_makes_no_http_call(tmp_path: Path, make_config: MakeConfig) -> None:
    prices = PriceTable(prices={"fake-*": ModelPrice(prompt=1.0, completion=2.0)})
    with FakeOpenAIServer(lambda body: '{"n": 1}') as server:
        client = make_client(make_config(server.base_url, cache_path=tmp_path / "llm.sqlite", prices=prices))

        async def run() -> list[Any]:
            request = ask("count please", json_schema=SCHEMA, temperature=0)
            return [await client.chat(request), await client.chat(request), await client.chat(ask("other"))]

        first, second, other = asyncio.run(run())
    assert server.request_count == 2
    assert not first.cached and first.usage.cost_usd > 0
    assert second.cached and second.parsed == {"n": 1} and second.text == first.text
    assert second.usage.cost_usd == 0 and second.usage.prompt_tokens == 0
    assert not other.cached


def test_cache_survives_a_new_client(tmp_path: Path, make_config: MakeConfig) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    with FakeOpenAIServer() as server:
        config = make_config(server.base_url, cache_path=path)
        assert not asyncio.run(make_client(config).chat(ask("hi"))).cached
        assert asyncio.run(make_client(config).chat(ask("hi"))).cached
    assert server.request_count == 1
    assert len(ResponseCache(path)) == 1


def test_key_depends_on_request_and_model_not_on_endpoint(make_config: MakeConfig) -> None:
    one = OpenAIBackend(make_config("http://a/v1", structured_output="plain")).identity()
    two = OpenAIBackend(make_config("http://b/v1", "http://c/v1")).identity()
    other_model = OpenAIBackend(make_config("http://a/v1", model="m2")).identity()
    hotter = OpenAIBackend(make_config("http://a/v1", temperature=1.0)).identity()
    request = ask("x")
    assert cache_key(request, one) == cache_key(request, two)
    assert cache_key(request, one) != cache_key(request, other_model)
    assert cache_key(request, one) != cache_key(request, hotter)
    assert cache_key(request, one) != cache_key(ask("x", seed=1), one)
    assert len(cache_key(request, one)) == 64


def test_concurrent_identical_requests_are_sent_once(tmp_path: Path, make_config: MakeConfig) -> None:
    async def slow(body: dict[str, Any]) -> str:
        await asyncio.sleep(0.1)
        return "done"

    with FakeOpenAIServer(slow) as server:
        client = make_client(make_config(server.base_url, cache_path=tmp_path / "c.sqlite"))

        async def run() -> list[Any]:
            same = [client.chat(ask("same")) for _ in range(5)]
            different = [client.chat(ask(f"q{i}")) for i in range(3)]
            return await asyncio.gather(*same, *different)

        responses = asyncio.run(run())
    assert server.request_count == 4
    assert sum(r.cached for r in responses) == 4


def test_failures_are_not_cached(tmp_path: Path, make_config: MakeConfig) -> None:
    with FakeOpenAIServer(faults=FaultConfig(plan=["error_400"])) as server:
        client = make_client(make_config(server.base_url, cache_path=tmp_path / "c.sqlite"))
        with pytest.raises(LLMError):
            asyncio.run(client.chat(ask("hi")))
        response = asyncio.run(client.chat(ask("hi")))
    assert not response.cached and server.request_count == 2


def test_cache_is_shared_by_threads_and_processes_safely(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    a, b = ResponseCache(path), ResponseCache(path)
    from cm2.llm.protocol import ChatResponse

    async def fill() -> None:
        await asyncio.gather(
            *(asyncio.to_thread((a if i % 2 else b).put, f"k{i}", ChatResponse(text=str(i))) for i in range(40))
        )

    asyncio.run(fill())
    assert len(a) == 40 and b.get("k7") == ChatResponse(text="7")
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_cached_client_without_identity_method(tmp_path: Path) -> None:
    from cm2.llm.fake import ScriptedLLM

    inner = ScriptedLLM(lambda request: "scripted")
    client = CachedClient(inner, ResponseCache(tmp_path / "c.sqlite"))
    asyncio.run(client.chat(ask("a")))
    assert asyncio.run(client.chat(ask("a"))).cached
    assert len(inner.requests) == 1
