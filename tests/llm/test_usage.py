"""Prices, cost computation and usage metering per role and per dialogue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from cm2.llm.config import LLMConfig
from cm2.llm.factory import make_client
from cm2.llm.fake import ScriptedLLM
from cm2.llm.prices import ModelPrice, PriceTable
from cm2.llm.protocol import ChatRequest, LLMError, Usage
from cm2.llm.testing import FakeOpenAIServer, FaultConfig
from cm2.llm.usage import MeteredClient, UsageMeter, usage_key

MakeConfig = Callable[..., LLMConfig]

TABLE = PriceTable(
    prices={
        "gpt-4o": ModelPrice(prompt=2.5, completion=10.0),
        "gpt-4o*": ModelPrice(prompt=5.0, completion=15.0),
        "gpt-*": ModelPrice(prompt=1.0, completion=1.0),
        "*/Qwen3-*": ModelPrice(prompt=0.1, completion=0.2),
    }
)


def test_price_lookup_prefers_exact_then_longest_pattern() -> None:
    assert TABLE.price_for("gpt-4o") == ModelPrice(prompt=2.5, completion=10.0)
    assert TABLE.price_for("gpt-4o-mini") == ModelPrice(prompt=5.0, completion=15.0)
    assert TABLE.price_for("gpt-3.5") == ModelPrice(prompt=1.0, completion=1.0)
    assert TABLE.price_for("Qwen/Qwen3-8B") == ModelPrice(prompt=0.1, completion=0.2)
    assert TABLE.price_for("llama") is None


def test_cost_computation() -> None:
    assert TABLE.cost("gpt-4o", 1_000_000, 0) == pytest.approx(2.5)
    assert TABLE.cost("gpt-4o", 2000, 500) == pytest.approx((2000 * 2.5 + 500 * 10.0) / 1e6)
    assert TABLE.cost("unknown", 10**9, 10**9) == 0.0
    assert TABLE.priced("gpt-4o", Usage(prompt_tokens=4, completion_tokens=2)).cost_usd == pytest.approx(3e-5)


def test_price_table_from_yaml(tmp_path: Path) -> None:
    nested = tmp_path / "nested.yaml"
    nested.write_text("prices:\n  'gpt-4o*': {prompt: 2.5, completion: 10}\n")
    bare = tmp_path / "bare.yaml"
    bare.write_text("'claude-*':\n  prompt: 3\n  completion: 15\n")
    assert PriceTable.from_yaml(nested).cost("gpt-4o-mini", 10**6, 10**6) == pytest.approx(12.5)
    assert PriceTable.from_yaml(bare).cost("claude-x", 0, 10**6) == pytest.approx(15)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("- a\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        PriceTable.from_yaml(wrong)


def test_http_answers_are_priced_from_the_config(make_config: MakeConfig, tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("fake-*: {prompt: 1000000, completion: 2000000}\n")  # $1 / $2 per token: easy to check
    with FakeOpenAIServer(lambda body: "one two three") as server:
        client = make_client(make_config(server.base_url, prices=prices))
        response = asyncio.run(client.chat(ChatRequest(messages=[{"role": "user", "content": "a b c d"}])))
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (4, 3)
    assert response.usage.cost_usd == pytest.approx(4 * 1 + 3 * 2)


def test_meter_per_role_and_dialogue(make_config: MakeConfig) -> None:
    meter = UsageMeter()
    prices = PriceTable(prices={"*": ModelPrice(prompt=1e6, completion=1e6)})
    with FakeOpenAIServer(lambda body: "yes") as server:
        judge = make_client(make_config(server.base_url, prices=prices), role="judge", meter=meter)
        simulator = make_client(make_config(server.base_url, prices=prices), role="tool_simulator", meter=meter)

        async def dialogue(uuid: str, turns: int) -> None:
            with usage_key(uuid):
                for _ in range(turns):
                    await judge.chat(ChatRequest(messages=[{"role": "user", "content": "one two"}]))
                    await simulator.chat(ChatRequest(messages=[{"role": "user", "content": "x"}]))

        async def run() -> None:
            await asyncio.gather(dialogue("d1", 1), dialogue("d2", 3))
            await judge.chat(ChatRequest(messages=[{"role": "user", "content": "no key"}]))

        asyncio.run(run())
    by_key = meter.by_key()
    assert by_key["d1"].requests == 2 and by_key["d2"].requests == 6
    assert by_key["d1"].prompt_tokens == 3 and by_key["d1"].completion_tokens == 2
    assert by_key["d2"].cost_usd == pytest.approx(3 * (2 + 1) + 3 * (1 + 1))
    assert meter.by_key("judge")["d2"].requests == 3
    by_role = meter.by_role()
    assert by_role["judge"].requests == 5 and by_role["tool_simulator"].requests == 4
    assert meter.total().requests == 9
    assert {(row.role, row.key) for row in meter.rows()} >= {("judge", None), ("judge", "d1")}


def test_failed_requests_are_metered(make_config: MakeConfig) -> None:
    meter = UsageMeter()
    schema = {"type": "object"}
    with FakeOpenAIServer(lambda body: "not json at all", faults=FaultConfig()) as server:
        client = make_client(make_config(server.base_url, json_attempts=2), role="annotator", meter=meter)
        with usage_key("d9"), pytest.raises(LLMError):
            asyncio.run(client.chat(ChatRequest(messages=[{"role": "user", "content": "q"}], json_schema=schema)))
    totals = meter.by_key()["d9"]
    assert totals.failed == 1 and totals.completion_tokens == 2 * 4


def test_metered_scripted_client_counts_cached_hits() -> None:
    meter = UsageMeter()
    client = MeteredClient(ScriptedLLM(lambda r: "hello world"), meter, role="filter")
    asyncio.run(client.chat(ChatRequest(messages=[{"role": "user", "content": "abcdefgh"}])))
    assert meter.by_role()["filter"].prompt_tokens == 2
    meter.record("filter", Usage(), key="k", cached=True)
    assert meter.by_role()["filter"].cached == 1
