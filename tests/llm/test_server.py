"""cm2's OpenAI-compatible server: a real tiny model over HTTP, and the response_format path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from cm2.llm.config import LLMConfig
from cm2.llm.hf_generate import HFGenerator
from cm2.llm.openai_backend import OpenAIBackend
from cm2.llm.protocol import ChatRequest, ChatResponse, LLMError, Usage
from cm2.llm.server import create_app
from cm2.llm.testing import BackgroundServer
from cm2.llm.transformers_backend import TransformersBackend

MakeConfig = Callable[..., LLMConfig]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]


@pytest.fixture(scope="module")
def served(tiny_model_path: Path) -> Iterator[tuple[str, TransformersBackend]]:
    backend = TransformersBackend(HFGenerator(tiny_model_path))
    with BackgroundServer(create_app(backend, "tiny", json_attempts=2)) as server:
        yield f"{server.url}/v1", backend
    backend.close()


def test_real_model_answers_over_http(served: tuple[str, TransformersBackend], make_config: MakeConfig) -> None:
    base_url, backend = served
    client = OpenAIBackend(make_config(base_url, model="tiny"))
    request = ChatRequest(messages=[{"role": "user", "content": "Hello there"}], max_tokens=5, temperature=0)
    response = asyncio.run(client.chat(request))
    local = asyncio.run(backend.chat(request))
    assert response.text == local.text and response.usage == local.usage
    assert response.usage.completion_tokens <= 5 and response.model == "tiny"


def test_openai_sdk_talks_to_it(served: tuple[str, TransformersBackend]) -> None:
    base_url, _ = served
    sdk = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    completion = sdk.chat.completions.create(
        model="tiny",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        max_tokens=4,
        temperature=0,
        seed=1,
        stop=["\n\n\n"],
        tools=TOOLS,  # type: ignore[arg-type]
        n=2,
        store=False,
        extra_body={"unknown_field": 1},
    )
    assert len(completion.choices) == 2 and completion.model == "tiny"
    assert completion.usage is not None and completion.usage.completion_tokens <= 8
    models = sdk.models.list()
    assert [m.id for m in models.data] == ["tiny"]
    chunks = list(
        sdk.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "Hi"}], max_tokens=3, temperature=0, stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    plain = sdk.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Hi"}], max_tokens=3, temperature=0
    )
    assert text == plain.choices[0].message.content


def test_health_and_bad_requests(served: tuple[str, TransformersBackend]) -> None:
    base_url, _ = served
    root = base_url.removesuffix("/v1")
    assert httpx.get(f"{root}/health").json() == {"status": "ok", "model": "tiny"}
    bad = httpx.post(f"{base_url}/chat/completions", content=b"{not json")
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]["message"]
    empty = httpx.post(f"{base_url}/chat/completions", json={"model": "tiny", "messages": []})
    assert empty.status_code == 400 and "messages" in empty.json()["error"]["message"]
    wrong_role = httpx.post(f"{base_url}/chat/completions", json={"messages": [{"role": "robot", "content": "x"}]})
    assert wrong_role.status_code == 400 and "messages[0].role" in wrong_role.json()["error"]["message"]
    grammar = httpx.post(
        f"{base_url}/chat/completions",
        json={"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "regex"}},
    )
    assert grammar.status_code == 400 and "response_format.type" in grammar.json()["error"]["message"]


def test_json_request_to_a_random_model_is_retried_then_fails(
    served: tuple[str, TransformersBackend], make_config: MakeConfig
) -> None:
    base_url, _ = served
    client = OpenAIBackend(make_config(base_url, model="tiny", json_attempts=2))
    request = ChatRequest(
        messages=[{"role": "user", "content": "JSON please"}],
        max_tokens=3,
        temperature=0,
        json_schema={"type": "object"},
    )
    with pytest.raises(LLMError, match="no valid JSON answer from 'tiny' after 2 attempts"):
        asyncio.run(client.chat(request))
    assert client.pool.endpoints[0].dialect is None  # json_schema was accepted: no fallback


class ScriptedGenerator:
    """A `TextGenerator` that answers from a list and records the prompts it was given."""

    def __init__(self, answers: list[str]):
        self.answers = answers
        self.requests: list[ChatRequest] = []

    async def generate(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        text = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return ChatResponse(text=text, usage=Usage(prompt_tokens=10, completion_tokens=len(text)), finish_reason="stop")


SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}},
        {"type": "json_object", "schema": SCHEMA},
    ],
)
def test_response_format_is_generated_then_validated(response_format: dict[str, Any]) -> None:
    generator = ScriptedGenerator(["no json", '{"ok": "yes"}', '<think>fine</think>```json\n{"ok": true}\n```'])
    with BackgroundServer(create_app(generator, "scripted", json_attempts=3)) as server:
        reply = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "?"}], "response_format": response_format},
        ).json()
    assert json.loads(reply["choices"][0]["message"]["content"]) == {"ok": True}
    assert reply["usage"]["prompt_tokens"] == 30  # three generations, all billed
    assert all(r.json_schema == SCHEMA for r in generator.requests)


def test_plain_json_object_and_exhausted_attempts() -> None:
    generator = ScriptedGenerator(["never json"])
    with BackgroundServer(create_app(generator, "scripted", json_attempts=2)) as server:
        reply = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "?"}], "response_format": {"type": "json_object"}},
        ).json()
    assert reply["choices"][0]["message"]["content"] == "never json"  # returned as is: the client validates
    assert len(generator.requests) == 2 and generator.requests[0].json_schema == {"type": "object"}
