"""Turn-end checks decided in code: a visible reply, the call budget, the environment's reported state."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cm2.judge.turn_checks import call_attempts, decide_turn_check
from cm2.rollout.episode import malformed_call_reply
from cm2.schema import (
    ArgConstraint,
    FunctionCall,
    Message,
    StateReport,
    ToolCall,
    ToolCallCheck,
    Turn,
    TurnCheck,
    split_turns,
)


def turn(*messages: Message) -> Turn:
    return split_turns([Message(role="user", content="go"), *messages])[0]


def call(call_id: str) -> Message:
    return Message(role="assistant", content="", tool_calls=[ToolCall(id=call_id, function=FunctionCall(name="f"))])


def answer(call_id: str) -> Message:
    return Message(role="tool", content='{"ok": 1}', tool_call_id=call_id, name="f")


REPLY = Message(role="assistant", content="<think>ok</think>\n\nAll done.")
ENDS = TurnCheck(kind="ends_with_reply")
STATE = TurnCheck(kind="environment_state")


def test_only_a_step_that_ends_the_turn_with_visible_text_can_hold() -> None:
    played = turn(call("a"), answer("a"), REPLY)
    assert decide_turn_check(ENDS, played, played.steps[0]) == (
        False,
        "this step does not end the turn with a visible reply",
    )
    assert decide_turn_check(ENDS, played, played.steps[1])[0] is True
    thinking_only = turn(Message(role="assistant", content="<think>hmm</think>"))
    assert decide_turn_check(ENDS, thinking_only, thinking_only.steps[0])[0] is False
    garbled = turn(
        Message(role="assistant", content="<tool_call>{oops"), Message(role="tool", content=malformed_call_reply(["x"]))
    )
    assert decide_turn_check(ENDS, garbled, garbled.steps[0])[0] is False  # answered with an error: not an ending


@pytest.mark.parametrize(("budget", "holds"), [(2, False), (3, True)])
def test_the_budget_counts_malformed_attempts(budget: int, holds: bool) -> None:
    played = turn(
        Message(role="assistant", content="<tool_call>{oops</tool_call>"),
        Message(role="tool", content=malformed_call_reply(["tool call 0: not JSON"])),
        call("a"),
        answer("a"),
        call("b"),
        answer("b"),
        REPLY,
    )
    assert call_attempts(played, 3) == 3
    verdict, reason = decide_turn_check(TurnCheck(kind="call_budget", max_calls=budget), played, played.steps[3])
    assert verdict is holds and reason == f"3 tool-call attempts in the turn, budget {budget}"


def test_the_state_item_reads_the_report_and_is_unavailable_without_one() -> None:
    played = turn(REPLY)
    assert decide_turn_check(STATE, played, played.steps[0])[0] is None  # nothing reported: never a score
    matched = replace(played.steps[0], state=StateReport(matched=True))
    assert decide_turn_check(STATE, played, matched)[0] is True
    differs = replace(played.steps[0], state=StateReport(matched=False, reason="differs: Fs.{root}"))
    verdict, reason = decide_turn_check(STATE, played, differs)
    assert verdict is False and "Fs.{root}" in reason


def named_call(call_id: str, name: str, arguments: str = "{}") -> Message:
    function = FunctionCall(name=name, arguments=arguments)
    return Message(role="assistant", content="", tool_calls=[ToolCall(id=call_id, function=function)])


ONLY_F = TurnCheck(
    kind="reference_calls_only", calls=[ToolCallCheck(tool="f", arguments={"x": ArgConstraint(value=1)})]
)


@pytest.mark.parametrize(
    ("played", "holds", "why"),
    [
        ([named_call("a", "f", '{"x": 1}'), answer("a")], True, "every call of the turn is one of the reference's"),
        ([named_call("a", "f", '{"x": 1}'), answer("a")] * 2, True, "every call"),  # a repeat is the budget's business
        ([named_call("a", "g"), answer("a"), named_call("b", "f", '{"x": 1}'), answer("b")], False, "g(…) is none"),
        ([named_call("a", "f", '{"x": 2}'), answer("a")], False, "f(…) is none of the turn's 1 reference call(s)"),
        (
            [
                Message(role="assistant", content="<tool_call>{oops"),
                Message(role="tool", content=malformed_call_reply([])),
            ],
            False,
            "a call that did not parse",
        ),
    ],
)
def test_reference_calls_only_fails_on_any_call_the_reference_did_not_make(
    played: list[Message], holds: bool, why: str
) -> None:
    finished = turn(*played, REPLY)
    verdict, reason = decide_turn_check(ONLY_F, finished, finished.steps[-1])
    assert verdict is holds and why in reason
    assert decide_turn_check(ONLY_F, finished, finished.steps[0])[0] is False  # not the turn's end


def test_a_turn_whose_reference_makes_no_call_allows_none() -> None:
    none = TurnCheck(kind="reference_calls_only", calls=[])
    quiet, busy = turn(REPLY), turn(call("a"), answer("a"), REPLY)
    assert decide_turn_check(none, quiet, quiet.steps[0])[0] is True
    assert decide_turn_check(none, busy, busy.steps[-1])[0] is False
