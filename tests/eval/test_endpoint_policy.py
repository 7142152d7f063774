"""`EndpointPolicy`: a chat policy over a real HTTP endpoint (cm2's fault-injecting test server)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cm2.llm.testing import FakeOpenAIServer, FaultConfig, completion_body
from cm2.rollout.endpoint_policy import EndpointPolicy, openai_message
from cm2.rollout.episode import EpisodeRunner
from cm2.rollout.policy import SamplingConfig
from cm2.schema import FunctionCall, Message, ToolCall, ToolSpec
from cm2.tools import HybridToolSimulator

TOOL = ToolSpec.model_validate(
    {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
)
SAMPLING = SamplingConfig(temperature=0.5, top_p=0.9, max_new_tokens=64, seed=7)


def _respond(policy: EndpointPolicy, messages: list[Message]) -> Any:
    return asyncio.run(policy.respond(messages, [TOOL], SAMPLING))


def test_structured_tool_calls_become_the_message() -> None:
    call = {"id": "c9", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
    body = completion_body("<think>go</think>", tool_calls=[call], finish_reason="tool_calls")
    with FakeOpenAIServer(lambda _: body) as server:
        policy = EndpointPolicy.connect(server.base_url, "m")
        generation = _respond(policy, [Message(role="user", content="hi")])
        sent = server.requests[0]
    assert generation.finish_reason == "tool_calls" and generation.message is not None
    assert generation.message.content == "<think>go</think>"
    assert [(c.id, c.name, c.function.parsed_arguments()) for c in generation.message.calls] == [
        ("c9", "lookup", {"q": 1})
    ]
    assert sent["tools"] == [TOOL.dump()] and sent["model"] == "m"
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["seed"]) == (0.5, 0.9, 64, 7)


def test_text_is_read_with_cm2s_parser() -> None:
    answers = iter(
        [
            '<think>x</think>\n<tool_call>{"name": "lookup", "arguments": {"q": "a"}}</tool_call>',
            "<think>y</think>\n\nAll done.",
            '<tool_call>{"name": "lookup", "arguments": oops}</tool_call>',
        ]
    )
    with FakeOpenAIServer(lambda _: next(answers)) as server:
        policy = EndpointPolicy.connect(server.base_url, "m", send_max_tokens=False)
        called, final, broken = (_respond(policy, [Message(role="user", content="hi")]) for _ in range(3))
        assert "max_tokens" not in server.requests[0]
    assert called.message.calls[0].function.parsed_arguments() == {"q": "a"}
    assert called.message.calls[0].id  # ids are made up when the text has none
    assert final.message.is_final_reply and final.message.visible_text == "All done."
    assert broken.message is None and "oops" in broken.text  # the episode runner answers it with an error


def test_history_is_sent_in_openai_form() -> None:
    history = [
        Message(role="user", content="hi"),
        Message(
            role="assistant",
            content=None,
            tool_calls=[ToolCall(id="c1", function=FunctionCall(name="lookup", arguments={"q": "é"}))],
        ),
        Message(role="tool", content='{"r": 1}', tool_call_id="c1", name="lookup"),
    ]
    with FakeOpenAIServer(lambda _: "ok") as server:
        _respond(EndpointPolicy.connect(server.base_url, "m"), history)
        sent = server.requests[0]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "",  # llama.cpp rejects null content
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "é"}'}}],
    }
    assert sent[2] == {"role": "tool", "content": '{"r": 1}', "tool_call_id": "c1"}
    assert openai_message(Message(role="tool", content="x", name="lookup")) == {
        "role": "tool",
        "content": "x",
        "name": "lookup",
    }


def test_server_errors_and_timeouts_are_retried() -> None:
    faults = FaultConfig(plan=["error_500", "hang", "error_429", None], hang_s=5)
    with FakeOpenAIServer(lambda _: "fine", faults=faults) as server:
        policy = EndpointPolicy.connect(server.base_url, "m", timeout_s=0.5, backoff_base_s=0.01, backoff_max_s=0.02)
        generation = _respond(policy, [Message(role="user", content="hi")])
        count = server.request_count
    assert generation.message is not None and generation.message.content == "fine"
    assert count == 4 and policy.requests == 1


def test_episode_runner_with_an_endpoint_policy() -> None:
    """Tool calls go through the hybrid simulator (replayed from the reference) and the episode completes."""
    reference_call = {"id": "r1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "a"}'}}
    from cm2.schema import Dialogue

    dialogue = Dialogue.model_validate(
        {
            "uuid": "d1",
            "tools": [TOOL.dump()],
            "messages": [
                {"role": "user", "content": "find a"},
                {"role": "assistant", "content": "", "tool_calls": [reference_call]},
                {"role": "tool", "tool_call_id": "r1", "content": '{"found": true}'},
                {"role": "assistant", "content": "Found."},
            ],
        }
    )

    def answer(body: dict[str, Any]) -> Any:
        if body["messages"][-1]["role"] == "tool":
            return "Found it."
        return completion_body(None, tool_calls=[{**reference_call, "id": "x1"}], finish_reason="tool_calls")

    with FakeOpenAIServer(answer) as server:
        runner = EpisodeRunner(EndpointPolicy.connect(server.base_url, "m"), HybridToolSimulator)
        trajectory = asyncio.run(runner.run(dialogue))
        tool_reply = server.requests[1]["messages"][-1]
    assert trajectory.stop_reason == "completed"
    assert json.loads(trajectory.messages[2].content or "") == {"found": True}
    assert tool_reply == {"role": "tool", "content": '{"found": true}', "tool_call_id": "x1"}
