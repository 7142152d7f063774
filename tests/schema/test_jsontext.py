"""Bounded JSON parsing: nesting, NaN and lone surrogates refused up front, everything else as `json.loads`."""

from __future__ import annotations

import json

import pytest

from cm2.schema.jsontext import MAX_JSON_DEPTH, JSONLimitError, loads, loads_bounded, value_problem


def test_nesting_is_bounded_before_python_recurses() -> None:
    for text in ("[" * 3000 + "]" * 3000, '{"a":' * 3000 + "1" + "}" * 3000, "[" * 100_000):
        with pytest.raises(JSONLimitError, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
            loads(text)
    assert loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(json.JSONDecodeError):  # a JSONLimitError is a JSONDecodeError
        loads_bounded("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"text": "[" * 5000, "escaped": '\\"[[[[' * 100, "list": [[[1]]]})
    assert loads(text)["list"] == [[[1]]]


def test_nan_and_infinity_are_refused_unless_allowed() -> None:
    for text in ('{"w": NaN}', '{"w": Infinity}', '{"w": -Infinity}'):
        with pytest.raises(JSONLimitError, match="is not JSON"):
            loads(text)
        assert loads_bounded(text)["w"] != 0


def test_a_lone_surrogate_is_refused_naming_the_field_but_a_pair_is_fine() -> None:
    with pytest.raises(JSONLimitError, match=r"lone UTF-16 surrogate in messages\[0\].content"):
        loads('{"messages": [{"content": "hi \\ud83c"}]}')
    assert loads('{"a": "\\ud83d\\ude00"}') == {"a": "😀"}
    assert loads('{"a": "\\\\ud83c"}') == {"a": "\\ud83c"}  # an escaped backslash, not a surrogate
    assert loads_bounded('{"a": "\\ud83c"}') == {"a": "\ud83c"}


def test_bytes_must_be_utf8() -> None:
    assert loads(b'{"a": "caf\xc3\xa9"}') == {"a": "café"}
    with pytest.raises(UnicodeDecodeError):
        loads(b'{"a": "caf\xe9"}')


def test_value_problem_walks_any_depth_without_recursion() -> None:
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    assert "nested deeper" in (value_problem({"a": deep}) or "")
    assert "a lone UTF-16 surrogate in a.b" in (value_problem({"a": {"b": "\udc00"}}) or "")
    assert "nan in w is not JSON" in (value_problem({"w": float("nan")}) or "")
    assert value_problem({"a": [1, 2.5, "ok", None, True]}) is None
