"""Retries, backoff and JSON re-asks of the OpenAI backend, against the fault-injecting HTTP server."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from cm2.llm.config import LLMConfig
from cm2.llm.openai_backend import OpenAIBackend
from cm2.llm.protocol import ChatRequest, LLMError
from cm2.llm.retry import Backoff
from cm2.llm.testing import FakeOpenAIServer, FaultConfig

MakeConfig = Callable[..., LLMConfig]


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


SCHEMA = {"type": "object", "properties": {"answer": {"type": "boolean"}}, "required": ["answer"]}


def ask(backend: OpenAIBackend, request: ChatRequest) -> Any:
    return asyncio.run(backend.chat(request))


@pytest.mark.parametrize("fault", ["error_500", "error_429", "invalid_body", "hang"])
def test_transport_faults_are_retried(fault: str, make_config: MakeConfig) -> None:
    faults = FaultConfig.model_validate({"plan": [fault, fault], "hang_s": 5})
    with FakeOpenAIServer(faults=faults) as server:
        backend = OpenAIBackend(make_config(server.base_url, timeout_s=0.3, failure_threshold=10))
        response = ask(backend, ChatRequest(messages=user("hello there")))
    assert response.text == "echo: hello there"
    assert server.request_count == 3
    assert server.faults[fault] == 2
    assert response.usage.prompt_tokens == 2  # only the attempt that answered is billed


def test_gives_up_after_max_retries_with_a_clear_error(make_config: MakeConfig) -> None:
    with FakeOpenAIServer(faults=FaultConfig(error_500=1.0)) as server:
        backend = OpenAIBackend(make_config(server.base_url, max_retries=2))
        with pytest.raises(LLMError, match=r"gave up after 3 attempts; last error: HTTP 500 from http://127\.0\.0\.1"):
            ask(backend, ChatRequest(messages=user("hi")))
    assert server.request_count == 3


def test_client_errors_are_not_retried(make_config: MakeConfig) -> None:
    with FakeOpenAIServer(faults=FaultConfig(plan=["error_400"])) as server:
        backend = OpenAIBackend(make_config(server.base_url))
        with pytest.raises(LLMError, match=r"HTTP 400 .*injected bad request"):
            ask(backend, ChatRequest(messages=user("hi")))
    assert server.request_count == 1


def test_truncated_json_answer_is_asked_again(make_config: MakeConfig) -> None:
    with FakeOpenAIServer(lambda body: '{"answer": true}', faults=FaultConfig(plan=["truncated"])) as server:
        backend = OpenAIBackend(make_config(server.base_url))
        response = ask(backend, ChatRequest(messages=user("is it?"), json_schema=SCHEMA))
    assert response.parsed == {"answer": True}
    assert server.request_count == 2
    assert response.usage.prompt_tokens == 2 * 2  # both attempts answered, both are billed


def test_unparsable_then_off_schema_then_valid(make_config: MakeConfig) -> None:
    answers = iter(["I believe so.", '{"answer": "yes"}', '<think>ok</think>{"answer": false}'])
    with FakeOpenAIServer(lambda body: next(answers)) as server:
        backend = OpenAIBackend(make_config(server.base_url, json_attempts=3))
        response = ask(backend, ChatRequest(messages=user("is it?"), json_schema=SCHEMA))
    assert response.parsed == {"answer": False}
    assert server.request_count == 3


def test_json_attempts_exhausted_raises_with_the_last_problem(make_config: MakeConfig) -> None:
    with FakeOpenAIServer(lambda body: '{"answer": "maybe"}') as server:
        backend = OpenAIBackend(make_config(server.base_url, json_attempts=2))
        with pytest.raises(
            LLMError, match=r"after 2 attempts; last problem: .*'maybe' is not of type 'boolean'"
        ) as err:
            ask(backend, ChatRequest(messages=user("is it?"), json_schema=SCHEMA))
    assert server.request_count == 2
    assert err.value.usage is not None and err.value.usage.completion_tokens == 4


def test_random_faults_at_scale_all_succeed(make_config: MakeConfig, caplog: pytest.LogCaptureFixture) -> None:
    """Every request succeeds; every fault the server injected cost one attempt the client logged and retried.

    The assertions hold however slow the machine is: an answer that misses the timeout under load is one
    more logged retry (and one more request, if the server read it before the client gave up), never a
    failure of the test.
    """
    faults = FaultConfig(error_500=0.15, error_429=0.05, invalid_body=0.05, truncated=0.1, hang=0.05, hang_s=60)
    with FakeOpenAIServer(lambda body: json.dumps({"answer": True}), faults=faults, seed=7) as server:
        backend = OpenAIBackend(
            make_config(
                server.base_url,
                timeout_s=1.0,
                max_retries=20,
                json_attempts=20,
                failure_threshold=1000,
                max_concurrency=8,
            )
        )

        async def many() -> list[Any]:
            request = ChatRequest(messages=user("q"), json_schema=SCHEMA)
            return await asyncio.gather(*(backend.chat(request) for _ in range(40)))

        with caplog.at_level("WARNING", logger="cm2.llm"):
            responses = asyncio.run(many())
    assert len(responses) == 40 and all(r.parsed == {"answer": True} for r in responses)
    failed_attempts = sum(1 for r in caplog.records if r.getMessage().startswith(("retry ", "JSON attempt ")))
    assert 40 + sum(server.faults.values()) <= server.request_count <= 40 + failed_attempts
    # seed 7's first 40 draws hold every kind of fault, whatever the order the requests arrive in
    assert {"error_500", "error_429", "invalid_body", "truncated", "hang"} <= set(server.faults)


def test_concurrency_limit_is_respected(make_config: MakeConfig) -> None:
    in_flight = peak = 0

    async def slow(body: dict[str, Any]) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return "ok"

    with FakeOpenAIServer(slow) as server:
        backend = OpenAIBackend(make_config(server.base_url, max_concurrency=3))

        async def many() -> None:
            await asyncio.gather(*(backend.chat(ChatRequest(messages=user("q"))) for _ in range(12)))

        asyncio.run(many())
    assert peak == 3


def test_request_body_carries_the_request(make_config: MakeConfig) -> None:
    with FakeOpenAIServer() as server:
        backend = OpenAIBackend(
            make_config(
                server.base_url, temperature=0.3, max_tokens_param="max_completion_tokens", extra_body={"top_k": 5}
            )
        )
        tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        messages = [*user("hi"), {"role": "assistant", "content": None, "tool_calls": []}, *user("again")]
        ask(
            backend,
            ChatRequest(messages=messages, max_tokens=7, seed=3, stop=["END"], tools=tools, reasoning_effort="low"),
        )
    body = server.requests[0]
    assert body["model"] == "fake-model"
    assert body["temperature"] == 0.3 and body["max_completion_tokens"] == 7 and "max_tokens" not in body
    assert body["seed"] == 3 and body["stop"] == ["END"] and body["tools"] == tools
    assert body["reasoning_effort"] == "low" and body["top_k"] == 5
    assert body["messages"][1]["content"] == ""  # null content is sent as "" (llama.cpp rejects null)
    assert "response_format" not in body


def test_backoff_grows_exponentially_with_jitter_and_cap() -> None:
    backoff = Backoff(base_s=0.1, cap_s=1.0, rng=random.Random(0))
    for retry, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (10, 1.0)]:
        delays = [backoff.delay(retry) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1
    assert backoff.delay(0, retry_after=0.7) == 0.7
    assert backoff.delay(0, retry_after=60) == 1.0


def test_retry_waits_between_attempts(make_config: MakeConfig) -> None:
    with FakeOpenAIServer(faults=FaultConfig(plan=["error_500", "error_500"])) as server:
        backend = OpenAIBackend(
            make_config(server.base_url, backoff_base_s=0.1, backoff_max_s=1.0, failure_threshold=10)
        )
        start = time.perf_counter()
        ask(backend, ChatRequest(messages=user("hi")))
        elapsed = time.perf_counter() - start
    assert elapsed >= 0.05 + 0.1  # at least half of 0.1 s, then half of 0.2 s
