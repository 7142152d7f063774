"""Several endpoints: least-in-flight choice, round robin, cool-down of a failing endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from cm2.llm.config import LLMConfig
from cm2.llm.endpoints import EndpointPool
from cm2.llm.openai_backend import OpenAIBackend
from cm2.llm.protocol import ChatRequest
from cm2.llm.testing import FakeOpenAIServer, FaultConfig

MakeConfig = Callable[..., LLMConfig]


def hello() -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "hello"}])


def test_sequential_requests_alternate(make_config: MakeConfig) -> None:
    with FakeOpenAIServer() as a, FakeOpenAIServer() as b:
        backend = OpenAIBackend(make_config(a.base_url, b.base_url))

        async def run() -> None:
            for _ in range(10):
                await backend.chat(hello())

        asyncio.run(run())
    assert (a.request_count, b.request_count) == (5, 5)


def test_concurrent_requests_go_to_the_least_busy(make_config: MakeConfig) -> None:
    async def slow(body: dict[str, Any]) -> str:
        await asyncio.sleep(0.2)
        return "slow"

    with FakeOpenAIServer(slow) as busy, FakeOpenAIServer() as quick:
        backend = OpenAIBackend(make_config(busy.base_url, quick.base_url))

        async def run() -> None:
            first = asyncio.create_task(backend.chat(hello()))  # occupies `busy`
            await asyncio.sleep(0.05)
            for _ in range(6):  # `busy` still has one in flight: these all go to `quick`
                await backend.chat(hello())
            await first

        asyncio.run(run())
    assert (busy.request_count, quick.request_count) == (1, 6)


def test_failing_endpoint_cools_down_then_is_tried_again(make_config: MakeConfig) -> None:
    with FakeOpenAIServer(faults=FaultConfig(error_500=1.0)) as broken, FakeOpenAIServer() as healthy:
        config = make_config(broken.base_url, healthy.base_url, failure_threshold=2, cooldown_s=0.5)
        backend = OpenAIBackend(config)

        async def run(n: int) -> None:
            for _ in range(n):
                await backend.chat(hello())

        asyncio.run(run(10))
        assert broken.request_count == 2  # two failures, then avoided
        assert healthy.request_count == 10
        assert backend.pool.is_cooling(backend.pool.endpoints[0])
        time.sleep(0.6)
        asyncio.run(run(2))
        assert broken.request_count == 3  # tried again after the cool-down, fails, cools down at once
        assert healthy.request_count == 12


def test_all_endpoints_cooling_still_serves(make_config: MakeConfig) -> None:
    with FakeOpenAIServer(faults=FaultConfig(plan=["error_500", "error_500"])) as only:
        backend = OpenAIBackend(make_config(only.base_url, failure_threshold=1, cooldown_s=60))
        response = asyncio.run(backend.chat(hello()))
    assert response.text == "echo: hello"
    assert only.request_count == 3


def test_pool_ranking_with_a_fake_clock() -> None:
    now = [0.0]
    pool = EndpointPool(["a", "b", "c"], failure_threshold=1, cooldown_s=10, clock=lambda: now[0])
    assert [pool.pick().base_url for _ in range(2)] == ["a", "a"]  # pick alone does not rotate
    with pool.use() as first, pool.use() as second:
        assert (first.base_url, second.base_url) == ("a", "b")
        with pool.use() as third:
            assert third.base_url == "c"
    pool.failed(pool.endpoints[0])
    with pool.use() as ep:
        assert ep.base_url != "a"
    now[0] = 10.5
    pool.succeeded(pool.endpoints[1])
    assert not pool.is_cooling(pool.endpoints[0])
    for ep in pool.endpoints:
        pool.failed(ep)
    now[0] = 11.0
    pool.endpoints[2].cooling_until = 12.0  # recovers first
    assert pool.pick().base_url == "c"
