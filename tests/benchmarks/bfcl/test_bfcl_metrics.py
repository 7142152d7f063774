"""Exact-call accuracy per turn and the step responses handed to BFCL's checker."""

from __future__ import annotations

import json

from cm2.benchmarks.bfcl.metrics import bfcl_responses, call_counts, exact_turns, same_calls
from cm2.schema import Dialogue, FunctionCall, Message, ToolCall, Trajectory


def _call(name: str, **arguments: object) -> ToolCall:
    return ToolCall(function=FunctionCall(name=name, arguments=json.dumps(arguments)))


def _turn(user: str, *calls: ToolCall, reply: str = "done") -> list[Message]:
    messages = [Message(role="user", content=user)]
    for call in calls:
        messages += [Message(role="assistant", content="<think>go</think>", tool_calls=[call])]
        messages += [Message(role="tool", content="{}")]
    return [*messages, Message(role="assistant", content=f"<think>ok</think>\n\n{reply}")]


REFERENCE = Dialogue(
    uuid="multi_turn_base_0",
    messages=[
        *_turn("move it", _call("cd", folder="document"), _call("mv", source="a", destination="b")),
        *_turn("count", _call("wc", file_name="a", mode="l")),
        *_turn("sort", _call("sort", file_name="b")),
    ],
)


def _rollout(messages: list[Message]) -> Trajectory:
    return Trajectory(dialogue_uuid=REFERENCE.uuid, messages=messages)


def test_a_turn_counts_only_with_the_same_calls_in_the_same_order() -> None:
    perfect = _rollout(REFERENCE.messages)
    assert exact_turns(REFERENCE, perfect, max_turns=30) == (3, 3)
    assert exact_turns(REFERENCE, perfect, max_turns=2) == (2, 2)
    swapped = _turn("move it", _call("mv", source="a", destination="b"), _call("cd", folder="document"))
    wrong_arg = _turn("count", _call("wc", file_name="a", mode="w"))
    early_stop = _rollout([*swapped, *wrong_arg])  # never reached turn 3
    assert exact_turns(REFERENCE, early_stop, max_turns=30) == (0, 3)
    # numbers by value and objects regardless of key order
    assert same_calls([_call("f", x=1, y={"a": 1, "b": 2})], [_call("f", y={"b": 2, "a": 1}, x=1.0)])
    assert not same_calls([_call("f", x=1)], [_call("f", x=1), _call("f", x=1)])
    assert not same_calls([_call("f", x=True)], [_call("f", x=1)])


def test_stray_calls_are_the_ones_no_reference_call_of_their_turn_matches() -> None:
    assert call_counts(REFERENCE, _rollout(REFERENCE.messages), max_turns=30) == (4, 0)
    swapped = _turn("move it", _call("mv", source="a", destination="b"), _call("cd", folder="document"))
    guessed = _turn("count", _call("ls"), _call("wc", file_name="a", mode="l"), _call("wc", file_name="a", mode="w"))
    played = _rollout([*swapped, *guessed, *_turn("sort", _call("sort", file_name="b"))])
    assert call_counts(REFERENCE, played, max_turns=30) == (6, 2)  # order is exact_turns' business; ls and mode w
    assert call_counts(REFERENCE, played, max_turns=1) == (2, 0)  # only the counted turns
    assert exact_turns(REFERENCE, played, max_turns=30) == (1, 3)


def test_bfcl_responses_follow_bfcls_result_format() -> None:
    rollout = _rollout(_turn("move it", _call("cd", folder="document"), reply="moved"))
    responses = bfcl_responses(rollout, turns=3)
    assert responses[0] == [[{"cd": json.dumps({"folder": "document"})}], "<think>ok</think>\n\nmoved"]
    assert responses[1:] == [[], []]  # turns the rollout never reached: no response at all
