"""`cm2 serve`: the OpenAI-compatible app over a checkpoint, driven with the `openai` SDK."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from cm2.eval.checkpoint import CheckpointGenerator, cut_at_stop
from cm2.eval.serve import serve_checkpoint, served_checkpoint, vllm_command
from cm2.llm.server import create_app
from cm2.llm.testing import BackgroundServer, build_tiny_tokenizer
from cm2.rollout.endpoint_policy import EndpointPolicy
from cm2.rollout.policy import Generation, SamplingConfig
from cm2.schema import Message, ToolSpec

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look something up.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
]


class ScriptedTokens:
    """A stand-in for the model: a real tokenizer, and output text the test chooses (a random model
    never writes tool calls)."""

    def __init__(self, outputs: list[str]):
        self.tokenizer = build_tiny_tokenizer()
        self.outputs = outputs
        self.prompts: list[str] = []

    async def continue_tokens(self, context_ids: list[int], sampling: SamplingConfig) -> Generation:
        self.prompts.append(self.tokenizer.decode(context_ids))
        text = self.outputs[min(len(self.prompts), len(self.outputs)) - 1]
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return Generation(text=text, token_ids=ids, finish_reason="stop")


@pytest.fixture
def scripted() -> Iterator[tuple[openai.OpenAI, ScriptedTokens]]:
    outputs = [
        '<think>Find it first.</think>\n<tool_call>{"name": "lookup", "arguments": {"q": "tides"}}</tool_call>',
        '<think>I could <tool_call>{"name": "lookup", "arguments": {}}</tool_call> but no.</think>\n\nNo need.',
        '<tool_call>{"name": "lookup", "arguments": {"q": </tool_call>',
    ]
    model = ScriptedTokens(outputs)
    with BackgroundServer(create_app(CheckpointGenerator(model), "scripted")) as server:
        yield openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0), model


def test_tool_calls_come_back_parsed_by_cm2(scripted: tuple[openai.OpenAI, ScriptedTokens]) -> None:
    sdk, model = scripted
    messages: list[Any] = [{"role": "user", "content": "When is high tide?"}]
    first = sdk.chat.completions.create(model="scripted", messages=messages, tools=TOOLS, store=False)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function" and calls[0].function.name == "lookup"
    assert json.loads(calls[0].function.arguments) == {"q": "tides"}
    assert choice.message.content == "<think>Find it first.</think>"  # reasoning stays in context
    assert '"name": "lookup"' in model.prompts[0]  # the tools reached the chat template
    # A call written inside the reasoning is not a call (as in cm2's rollouts).
    second = sdk.chat.completions.create(model="scripted", messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop" and not second.choices[0].message.tool_calls
    assert "No need." in (second.choices[0].message.content or "")
    # A malformed block comes back as text, for the client's parser to report.
    third = sdk.chat.completions.create(model="scripted", messages=messages, tools=TOOLS)
    assert third.choices[0].message.tool_calls is None
    assert third.choices[0].message.content == '<tool_call>{"name": "lookup", "arguments": {"q": </tool_call>'


def test_without_tools_the_text_is_returned_as_is() -> None:
    text = '<tool_call>{"name": "lookup", "arguments": {}}</tool_call>'
    with BackgroundServer(create_app(CheckpointGenerator(ScriptedTokens([text])), "s")) as server:
        reply = httpx.post(
            f"{server.url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
        ).json()
    assert reply["choices"][0]["message"] == {"role": "assistant", "content": text}


def test_completions_route() -> None:
    model = ScriptedTokens(["tea and cakes. END ignored"])
    with BackgroundServer(create_app(CheckpointGenerator(model), "s")) as server:
        sdk = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        done = sdk.completions.create(model="s", prompt="We had", stop=["END"], n=2, echo=True, seed=3)
        bad = httpx.post(f"{server.url}/v1/completions", json={"prompt": [1, 2, 3]})
    assert [c.text for c in done.choices] == ["We hadtea and cakes. "] * 2
    assert all(c.finish_reason == "stop" for c in done.choices)
    assert done.usage is not None and done.usage.completion_tokens > 0 and model.prompts == ["We had", "We had"]
    assert bad.status_code == 400


def test_cut_at_stop() -> None:
    assert cut_at_stop("abcXdefY", ["Y", "X"]) == ("abc", True)
    assert cut_at_stop("abc", ["Z", ""]) == ("abc", False)
    assert cut_at_stop("abc", None) == ("abc", False)


def test_real_tiny_checkpoint_over_the_sdk(tiny_checkpoint: Path) -> None:
    with served_checkpoint(tiny_checkpoint, model_name="tiny", device="cpu", max_new_tokens=6) as base_url:
        sdk = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        assert [m.id for m in sdk.models.list().data] == ["tiny"]
        messages: list[Any] = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
        one = sdk.chat.completions.create(
            model="tiny", messages=messages, tools=TOOLS, store=False, extra_body={"unknown": 1}
        )
        two = sdk.chat.completions.create(model="tiny", messages=messages, tools=TOOLS)
        raw = sdk.completions.create(model="tiny", prompt="<|im_start|>user\nHi<|im_end|>\n", max_tokens=4)
        policy = EndpointPolicy.connect(base_url, "tiny", max_retries=0)
        generation = asyncio.run(
            policy.respond(
                [Message(role="user", content="Hi")],
                [ToolSpec.model_validate(TOOLS[0])],
                SamplingConfig(temperature=0.0, max_new_tokens=4),
            )
        )
    assert one.choices[0].message.content == two.choices[0].message.content  # greedy without a temperature
    assert one.usage is not None and 0 < one.usage.completion_tokens <= 6 and one.usage.prompt_tokens > 10
    assert raw.choices[0].text is not None and raw.usage is not None and raw.usage.completion_tokens <= 4
    assert policy.requests == 1 and policy.usage.completion_tokens <= 4
    assert generation.finish_reason in ("stop", "length")


def test_vllm_command_reads_tool_calls_with_the_hermes_parser(tmp_path: Path) -> None:
    command = vllm_command(tmp_path, host="127.0.0.1", port=9001, model_name="m", chat_template="t.jinja")
    assert command[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    joined = " ".join(command)
    assert "--tool-call-parser hermes" in joined and "--enable-auto-tool-choice" in joined
    assert "--served-model-name m" in joined and "--chat-template t.jinja" in joined and "--port 9001" in joined


def test_vllm_engine_without_vllm_is_refused(tiny_checkpoint: Path) -> None:
    pytest.importorskip("torch")
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    with pytest.raises(RuntimeError, match="vLLM is not installed"):
        serve_checkpoint(tiny_checkpoint, engine="vllm")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_cm2_serve_command(tiny_checkpoint: Path) -> None:
    port = _free_port()
    script = "from cm2.cli import main; main()"
    command = [sys.executable, "-c", script, "serve", str(tiny_checkpoint), "--port", str(port), "--device", "cpu"]
    command += ["--api-key-env", "CM2_TEST_SERVE_KEY"]
    env = {**os.environ, "CM2_TEST_SERVE_KEY": "k-42"}
    auth = {"authorization": "Bearer k-42"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                models = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers=auth).json()
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.5)
        assert models["data"][0]["id"] == tiny_checkpoint.name
        reply = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "tools": TOOLS, "store": False},
            headers=auth,
        ).json()
        assert reply["choices"][0]["message"]["role"] == "assistant"
        # behind the guard (cm2.llm.guard; tests/llm/test_guard.py covers it in full)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 401
        rebound = {**auth, "host": "attacker.example"}
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", headers=rebound).status_code == 403
    finally:
        process.terminate()
        process.wait(timeout=30)
