"""JSON extraction from free model text."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cm2.llm.jsonx import JSONExtractionError, extract_json, schema_kind, strip_think


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2]  ", [1, 2]),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('```\n{"a": 1}\n```', {"a": 1}),
        ('Sure! ```json\n{"a": 1}\n``` and also ```json\n{"b": 2}\n``` done', {"b": 2}),
        ('<think>maybe {"draft": true}</think>{"final": true}', {"final": True}),
        ('<think>\nreasoning [1] {"x": 0}\n</think>\n\nAnswer: {"ok": "yes"}', {"ok": "yes"}),
        ('reasoning whose opening tag was in the prompt {"no": 1}</think> {"yes": 1}', {"yes": 1}),
        ('first {"a": 1} then {"b": {"c": [1, {"d": 2}]}} end.', {"b": {"c": [1, {"d": 2}]}}),
        ('braces in strings {"s": "a } b { c"} trailing', {"s": "a } b { c"}),
        ('a broken {"a": 1, then a good {"b": 2}', {"b": 2}),
        ('unicode {"name": "Zoë ☃"}', {"name": "Zoë ☃"}),
        ('fenced with prose inside ```json\nHere: {"a": 1}\n```', {"a": 1}),
    ],
)
def test_extracts_the_last_value(text: str, expected: object) -> None:
    assert extract_json(text) == expected


def test_kind_selects_objects_over_later_arrays() -> None:
    text = 'The answer is {"items": [1, 2]} and see [3]'
    assert extract_json(text) == [3]
    assert extract_json(text, "object") == {"items": [1, 2]}
    assert extract_json('{"a": [1]} then [2, 3]', "array") == [2, 3]


@pytest.mark.parametrize(
    "text",
    ["", "   ", '<think>{"a": 1}</think>', "no json here", '{"a": 1', '<think>unfinished {"a": 1}', "42"],
)
def test_raises_when_nothing_fits(text: str) -> None:
    with pytest.raises(JSONExtractionError):
        extract_json(text)


def test_error_message_previews_long_text() -> None:
    with pytest.raises(JSONExtractionError, match=r"no JSON object found in the answer"):
        extract_json("x" * 500, "object")


def test_strip_think_removes_leading_reasoning_only() -> None:
    assert strip_think("<think>a</think>b<think>c</think>d") == "b<think>c</think>d"
    assert strip_think("<think>a</think>\n<think>b</think>c") == "c"
    assert strip_think("  <think>cut off before closing") == ""
    assert strip_think("prompt opened it</think>answer") == "answer"
    assert strip_think("plain") == "plain"


def test_tags_inside_json_strings_survive() -> None:
    assert extract_json('<think>ok</think>{"s": "<think>"}') == {"s": "<think>"}
    assert extract_json('{"s": "</think> x"}') == {"s": "</think> x"}
    with pytest.raises(JSONExtractionError):
        extract_json('<think>draft {"a": 1}</think> no JSON after the reasoning')


def test_schema_kind() -> None:
    assert schema_kind({"type": "object"}) == "object"
    assert schema_kind({"type": "array"}) == "array"
    assert schema_kind({"type": "string"}) is None
    assert schema_kind(None) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(
    value=st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=4),
    before=st.text(alphabet="abc .,:\n", max_size=30),
    after=st.text(alphabet="abc .,:\n", max_size=30),
    fenced=st.booleans(),
)
@example(value={"": "</think>"}, before="", after="", fenced=False)  # a closing tag inside the answer's JSON
def test_any_object_embedded_in_prose_round_trips(value: dict, before: str, after: str, fenced: bool) -> None:
    body = json.dumps(value, ensure_ascii=False)
    if fenced:
        body = f"```json\n{body}\n```"
    assert extract_json(f'<think>{{"draft": 0}}</think>{before}{body}{after}', "object") == value
