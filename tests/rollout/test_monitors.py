"""Reward-hacking monitors over trajectories: worked by hand, and on episodes the runner really played."""

from __future__ import annotations

import asyncio
import json

import pytest

from cm2.rollout.episode import EpisodeConfig, EpisodeLimitsConfig, EpisodeRunner, malformed_call_reply
from cm2.rollout.monitors import rollout_monitors
from cm2.rollout.policy import Generation, SamplingConfig
from cm2.schema import Dialogue, FunctionCall, Message, StopReason, ToolCall, ToolSpec, Trajectory
from cm2.tools import ToolResult, error_result


def tool_call(call_id: str, name: str = "lookup") -> ToolCall:
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments="{}"))


def assistant(*calls: ToolCall, text: str = "") -> Message:
    return Message(role="assistant", content=text, tool_calls=list(calls) or None)


def answer(call_id: str, error: bool = False) -> Message:
    content = error_result("tool_failed", "no such thing").content if error else json.dumps({"ok": 1})
    return Message(role="tool", content=content, tool_call_id=call_id, name="lookup")


def played(*messages: Message, stop_reason: StopReason = "completed", reference_turns: int | None = None) -> Trajectory:
    """A trajectory of `messages`, as the episode runner records one."""
    metadata = {"reference_turns": reference_turns} if reference_turns else {}
    return Trajectory(dialogue_uuid="d", messages=list(messages), stop_reason=stop_reason, metadata=metadata)


def test_monitors_worked_by_hand() -> None:
    clean = played(
        Message(role="user", content="one"),
        assistant(tool_call("a")),
        answer("a"),
        assistant(text="done"),
        Message(role="user", content="two"),
        assistant(text="done too"),
        reference_turns=2,
    )
    flailing = played(
        Message(role="user", content="one"),
        assistant(text="<tool_call>{oops</tool_call>"),
        Message(role="tool", content=malformed_call_reply(["tool call 0: not JSON"])),
        assistant(tool_call("b")),
        answer("b", error=True),
        assistant(tool_call("c"), tool_call("d")),
        answer("c"),
        answer("d"),
        stop_reason="max_steps",
        reference_turns=2,
    )
    monitors = rollout_monitors([clean, flailing])
    assert monitors.rollouts == 2 and monitors.turns == 3
    assert monitors.calls_per_turn == pytest.approx(4 / 3)  # a; b, c, d
    assert monitors.step_limit_share == pytest.approx(1 / 3)  # the flailing rollout's only turn
    assert monitors.final_reply_share == pytest.approx(2 / 3)
    assert monitors.error_call_share == pytest.approx(1 / 4)  # b failed
    assert monitors.malformed_share == pytest.approx(1 / 5)  # 1 malformed of 5 attempts
    assert monitors.turns_reached == pytest.approx(1.5) and monitors.turns_reached_share == pytest.approx(0.75)
    assert monitors.call_after_error_share == 1.0  # b failed, then c and d were called
    metrics = monitors.as_metrics()
    assert metrics["cm2/calls_per_turn"] == pytest.approx(4 / 3) and len(metrics) == 8


def test_a_turn_that_ends_after_a_failed_call_tried_no_recovery() -> None:
    gave_up = played(
        Message(role="user", content="one"),
        assistant(tool_call("a")),
        answer("a", error=True),
        assistant(text="done"),
        Message(role="user", content="two"),
        assistant(tool_call("b")),
        answer("b", error=True),
        assistant(tool_call("c")),
        answer("c"),
        assistant(text="done"),
    )
    monitors = rollout_monitors([gave_up])
    assert monitors.call_after_error_share == pytest.approx(1 / 2)  # turn 1 gave up, turn 2 called c after b
    no_failure = rollout_monitors([gave_up.model_copy(update={"messages": gave_up.messages[:2]})])
    assert no_failure.call_after_error_share is None


def test_an_empty_batch_has_no_shares() -> None:
    monitors = rollout_monitors([])
    assert monitors.turns == 0 and monitors.as_metrics() == {}


class Outputs:
    """Plays back fixed outputs (unit-test fake, not a model)."""

    def __init__(self, outputs: list[str]):
        self.outputs = outputs

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> Generation:
        return Generation(text=self.outputs.pop(0))


class FailsOnZero:
    """Unit-test tools: `lookup` with x = 0 fails, anything else answers."""

    def __init__(self) -> None:
        self.tools: list[ToolSpec] = []

    async def call(self, tool_call: ToolCall) -> ToolResult:
        if tool_call.function.parsed_arguments().get("x") == 0:
            return error_result("tool_failed", "x must not be 0", tool_call.name)
        return ToolResult(content='{"ok": true}', source="executed")


def test_monitors_of_played_episodes_count_cut_turns_as_the_runner_records_them() -> None:
    dialogue = Dialogue.model_validate(
        {
            "uuid": "d",
            "messages": [
                {"role": "user", "content": "one"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "two"},
                {"role": "assistant", "content": "ok"},
            ],
        }
    )
    lookup = '<tool_call>{{"name": "lookup", "arguments": {{"x": {x}}}}}</tool_call>'
    outputs = [lookup.format(x=0), lookup.format(x=1), "<tool_call>{bad</tool_call>", "fine"]
    limits = EpisodeLimitsConfig(max_steps_per_turn=3)
    runner = EpisodeRunner(
        Outputs(outputs), lambda d: FailsOnZero(), None, EpisodeConfig(limits=limits, at_step_limit="next_turn")
    )
    trajectory = asyncio.run(runner.run(dialogue))
    assert trajectory.metadata["turns_cut_at_step_limit"] == 1
    monitors = rollout_monitors([trajectory])
    assert monitors.turns == 2 and monitors.step_limit_share == 0.5 and monitors.final_reply_share == 0.5
    assert monitors.calls_per_turn == 1.0 and monitors.error_call_share == 0.5
    assert monitors.malformed_share == pytest.approx(1 / 3)
