"""Tool calls written as text, parsed into OpenAI tool_calls by the transformers backend and the server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai

from cm2.llm.hf_generate import Generation, GenParams
from cm2.llm.protocol import ChatRequest
from cm2.llm.server import create_app
from cm2.llm.testing import BackgroundServer
from cm2.llm.toolcalls import parse_output, parse_tool_calls, template_messages
from cm2.llm.transformers_backend import TransformersBackend

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def test_parse_tool_calls() -> None:
    text = (
        "<think>Need data.</think>Checking.\n"
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>\n'
        '<tool_call>\n{"name": "get_time", "parameters": {"tz": "CET"}}\n</tool_call>'
    )
    content, calls = parse_tool_calls(text)
    assert content == "<think>Need data.</think>Checking."
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Oslo"}
    assert json.loads(calls[1]["function"]["arguments"]) == {"tz": "CET"}
    assert all(c["type"] == "function" and c["id"].startswith("call_") for c in calls)


def test_malformed_blocks_stay_in_the_content() -> None:
    text = '<tool_call>{"name": 3}</tool_call> <tool_call>not json</tool_call>'
    assert parse_tool_calls(text) == (text, [])
    assert parse_tool_calls("no calls") == ("no calls", [])


def test_openai_view_reads_like_the_episode_runner() -> None:
    """One parser: a block in the reasoning is no call, and one bad or unclosed block leaves the text as is."""
    good = '<tool_call>{"name": "a", "arguments": {}}</tool_call>'
    thinking = f"<think>{good}</think>Done."
    assert parse_tool_calls(thinking) == (thinking, [])
    for text in (f'{good}<tool_call>{{"name": "b", "arguments": [1]}}</tool_call>', f"{good}<tool_call>{{"):
        assert parse_tool_calls(text) == (text, [])
    content, calls = parse_tool_calls(f"Sure.{good}")
    assert content == "Sure." and calls[0]["id"] == parse_output(good).tool_calls[0].id


def test_template_messages_normalise_for_templates() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": '{"a": 1}'}}]},
        {"role": "assistant", "content": "x", "tool_calls": [{"function": {"name": "g", "arguments": "{broken"}}]},
    ]
    out = template_messages(messages)
    assert out[0]["content"] == "" and out[0]["tool_calls"][0]["function"]["arguments"] == {"a": 1}
    assert out[1]["tool_calls"][0]["function"]["arguments"] == "{broken"
    assert messages[0]["content"] is None  # the input is untouched


class StubGenerator:
    """Stands in for HFGenerator: answers every prompt with a fixed text (no torch needed)."""

    model_path = "stub"
    device = "cpu"

    def __init__(self, text: str):
        self.text = text
        self.batches: list[int] = []

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        return json.dumps({"messages": messages, "tools": tools})

    def template_digest(self) -> str:
        return "0" * 16

    def generate(self, prompts: list[str], params: GenParams) -> list[Generation]:
        self.batches.append(len(prompts))
        return [Generation(self.text, len(p), 7, "stop") for p in prompts]


CALL_TEXT = 'Let me check.<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'


def test_backend_returns_tool_calls_only_when_tools_were_offered() -> None:
    backend = TransformersBackend(StubGenerator(CALL_TEXT))  # type: ignore[arg-type]
    messages = [{"role": "user", "content": "Weather?"}]
    with_tools = asyncio.run(backend.chat(ChatRequest(messages=messages, tools=TOOLS)))
    assert with_tools.text == "Let me check." and with_tools.finish_reason == "tool_calls"
    assert with_tools.tool_calls is not None and with_tools.tool_calls[0]["function"]["name"] == "get_weather"
    without = asyncio.run(backend.chat(ChatRequest(messages=messages)))
    assert without.text == CALL_TEXT and without.tool_calls is None
    backend.close()


def test_server_sends_tool_calls_in_openai_format() -> None:
    backend = TransformersBackend(StubGenerator(CALL_TEXT))  # type: ignore[arg-type]
    with BackgroundServer(create_app(backend, "stub")) as server:
        sdk = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        completion = sdk.chat.completions.create(
            model="stub",
            messages=[{"role": "user", "content": "Weather?"}],
            tools=TOOLS,  # type: ignore[arg-type]
        )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Let me check."
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Oslo"}  # type: ignore[union-attr]
    backend.close()


def test_concurrent_requests_are_batched_by_settings() -> None:
    stub = StubGenerator("hi")
    backend = TransformersBackend(stub, max_batch_size=3, batch_wait_s=0.05)  # type: ignore[arg-type]

    async def burst() -> None:
        same = [backend.chat(ChatRequest(messages=[{"role": "user", "content": str(i)}])) for i in range(7)]
        other = [backend.chat(ChatRequest(messages=[{"role": "user", "content": "t"}], temperature=0.7))]
        seeded = [backend.chat(ChatRequest(messages=[{"role": "user", "content": "s"}], seed=i)) for i in range(2)]
        await asyncio.gather(*same, *other, *seeded)

    asyncio.run(burst())
    backend.close()
    assert sum(stub.batches) == 10
    assert max(stub.batches) == 3  # capped by max_batch_size
    assert stub.batches.count(1) >= 3  # the sampled request and each seeded one ran on their own
