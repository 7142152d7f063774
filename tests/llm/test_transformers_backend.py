"""The in-process transformers backend on a tiny random model: exact token counts, batching, seeds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from cm2.llm.hf_generate import HFGenerator
from cm2.llm.protocol import ChatRequest, ChatResponse, LLMError
from cm2.llm.transformers_backend import TransformersBackend

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


@pytest.fixture(scope="module")
def backend(tiny_model_path: Path) -> Iterator[TransformersBackend]:
    loaded = TransformersBackend(HFGenerator(tiny_model_path), max_batch_size=4, json_attempts=2)
    yield loaded
    loaded.close()


def ask(text: str, **fields: object) -> ChatRequest:
    return ChatRequest.model_validate({"messages": [{"role": "user", "content": text}], **fields})


def test_token_counts_are_exact(backend: TransformersBackend) -> None:
    request = ask("What is the weather in Paris?", max_tokens=6, temperature=0)
    response = asyncio.run(backend.chat(request))
    prompt_ids = backend.generator.tokenizer(backend.render_prompt(request), add_special_tokens=False)["input_ids"]
    assert response.usage.prompt_tokens == len(prompt_ids)
    assert response.finish_reason in ("length", "stop")
    if response.finish_reason == "length":
        assert response.usage.completion_tokens == 6
    assert response.model == str(backend.model_name) and response.usage.cost_usd == 0


def test_greedy_is_deterministic_and_batches_form(backend: TransformersBackend) -> None:
    async def together() -> list[ChatResponse]:
        requests = [ask(f"Question number {i}", max_tokens=5, temperature=0) for i in range(4)]
        return await asyncio.gather(*(backend.chat(r) for r in requests))

    before = len(backend.batches)
    first = asyncio.run(together())
    assert max(backend.batches[before:]) > 1  # concurrent requests were generated together
    alone = asyncio.run(backend.chat(ask("Question number 2", max_tokens=5, temperature=0)))
    assert alone.usage == first[2].usage
    again = asyncio.run(together())
    assert [r.text for r in again] == [r.text for r in first]


def test_seeded_sampling_reproduces(backend: TransformersBackend) -> None:
    def sample(seed: int) -> str:
        return asyncio.run(backend.chat(ask("Tell me a story", max_tokens=8, temperature=1.5, seed=seed))).text

    assert sample(1) == sample(1)
    assert len({sample(s) for s in range(4)}) > 1


def test_tools_and_tool_history_reach_the_template(backend: TransformersBackend) -> None:
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}],
        },
        {"role": "tool", "content": '{"temp": -3}'},
    ]
    prompt = backend.render_prompt(ChatRequest(messages=messages, tools=TOOLS))
    assert '"name": "get_weather"' in prompt and "Current weather for a city." in prompt
    assert '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>' in prompt
    assert '<tool_response>{"temp": -3}</tool_response>' in prompt
    with_tools = asyncio.run(backend.chat(ChatRequest(messages=messages, tools=TOOLS, max_tokens=2, temperature=0)))
    without = asyncio.run(backend.chat(ChatRequest(messages=messages, max_tokens=2, temperature=0)))
    assert with_tools.usage.prompt_tokens > without.usage.prompt_tokens


def test_stop_strings_cut_the_answer(backend: TransformersBackend) -> None:
    free = asyncio.run(backend.chat(ask("Say something", max_tokens=12, temperature=0))).text
    if len(free) < 3:
        pytest.skip("the random model answered too little to cut")
    stop = free[1:3]
    cut = asyncio.run(backend.chat(ask("Say something", max_tokens=12, temperature=0, stop=[stop])))
    assert cut.text == free[: free.find(stop)] and cut.finish_reason == "stop"


def test_json_request_fails_clearly_on_a_random_model(backend: TransformersBackend) -> None:
    request = ask("Give JSON", max_tokens=4, temperature=0, json_schema={"type": "object"})
    assert "Reply with one JSON value" in backend.render_prompt(request)
    with pytest.raises(LLMError, match=r"no valid JSON answer .* after 2 attempts") as err:
        asyncio.run(backend.chat(request))
    assert err.value.usage is not None and err.value.usage.completion_tokens == 8


def test_identity_tracks_the_template(backend: TransformersBackend) -> None:
    identity = backend.identity()
    assert identity["backend"] == "transformers" and len(identity["chat_template"]) == 16
