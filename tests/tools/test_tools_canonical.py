"""Canonical JSON of calls, the error object, and the recorded-call index."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cm2.schema import Dialogue
from cm2.tools import (
    RecordedIndex,
    call_key,
    canonical_json,
    error_object,
    is_tool_error,
    recorded_calls,
    tool_error_message,
)


def test_canonical_json_sorts_keys_drops_spaces_and_normalises_integral_floats() -> None:
    assert canonical_json({"b": 1.0, "a": [2.0, 2.5, {"d": True, "c": None}]}) == (
        '{"a":[2,2.5,{"c":null,"d":true}],"b":1}'
    )
    assert canonical_json({"x": "Zürich"}) == '{"x":"Zürich"}'
    assert canonical_json({"flag": False}) != canonical_json({"flag": 0})


def test_call_key_separates_tools_and_ignores_spelling() -> None:
    assert call_key("f", {"a": 1, "b": [1.0]}) == call_key("f", json.loads('{ "b": [1], "a": 1.0 }'))
    assert call_key("f", {"a": 1}) != call_key("g", {"a": 1})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.text(max_size=5), json_values, max_size=4))
def test_canonical_json_is_stable_through_a_round_trip(value: dict[str, object]) -> None:
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text


def test_error_object_and_its_detection() -> None:
    body = error_object("unknown_tool", "no tool named 'x'", "x")
    assert body == {"error_tool_call": {"code": "unknown_tool", "message": "no tool named 'x'", "tool": "x"}}
    assert is_tool_error(json.dumps(body)) and is_tool_error(body)
    assert tool_error_message(json.dumps(body)) == tool_error_message(body) == "no tool named 'x'"


@pytest.mark.parametrize(
    "content",
    [
        None,
        "",
        "error_tool_call",
        '{"error": "Invalid tool call"}',
        '["error_tool_call"]',
        '{"x": {"error_tool_call": 1}}',
    ],
)
def test_ordinary_contents_are_not_tool_errors(content: str | None) -> None:
    assert not is_tool_error(content) and tool_error_message(content) is None


def test_recorded_calls_pair_by_position_or_id_and_skip_bad_arguments(weather_dialogue: Dialogue) -> None:
    weather_dialogue.messages[2].calls[1].function.arguments = "[not an object]"
    calls = recorded_calls(weather_dialogue)
    assert [(c.tool, c.turn, c.step) for c in calls] == [
        ("get_weather", 0, 0),
        ("get_weather", 1, 0),
        ("book_table", 1, 0),
    ]
    index = RecordedIndex(calls)
    key = call_key("get_weather", {"city": "Oslo", "unit": "C"})
    assert index.count(key) == 2 and index.response(key, 5) == index.response(key, 1) != index.response(key, 0)
    assert index.response(call_key("get_weather", {"city": "Rome"}), 0) is None
