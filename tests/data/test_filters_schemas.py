"""The cached JSON Schema checks behind the `tool_schema` rule."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cm2.data.filters.schemas import (
    _check,
    arguments_problem,
    canonical_json,
    clear_caches,
    parameters_problem,
    validator_for,
)

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
}


def test_canonical_json_ignores_key_order() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": "é"}]}) == '{"a":[1,{"c":"é","d":2}],"b":1}'


def test_checks_and_validators_are_cached_per_distinct_schema() -> None:
    clear_caches()
    key = canonical_json(WEATHER)
    assert parameters_problem(key) is None
    assert parameters_problem(canonical_json(dict(reversed(list(WEATHER.items()))))) is None
    assert parameters_problem.cache_info().misses == 1  # the same schema in another key order is a hit
    assert validator_for(key) is validator_for(key)
    assert arguments_problem(key, {"city": "Oslo", "days": 2}) is None
    problem = arguments_problem(key, {"city": "Oslo", "days": 0})
    assert problem is not None and "0 is less than the minimum of 1 (at days)" in problem


def test_schemas_differing_only_in_descriptions_share_one_metaschema_check() -> None:
    clear_caches()
    for n in range(5):
        reworded = json.loads(json.dumps(WEATHER))
        reworded["properties"]["city"]["description"] = f"the city, take {n}"
        reworded["title"] = f"weather {n}"
        assert parameters_problem(canonical_json(reworded)) is None
    from cm2.data.filters.schemas import _shape_problem

    assert _shape_problem.cache_info().misses == 1


def test_an_invalid_shape_is_reported_with_this_schemas_own_text() -> None:
    clear_caches()
    first = {"type": "object", "properties": {"a": {"type": "text", "description": "one"}}}
    second = {"type": "object", "properties": {"a": {"type": "text", "description": "two"}}}
    assert parameters_problem(canonical_json(first)) is not None
    problem = parameters_problem(canonical_json(second))
    assert problem is not None and "not a valid JSON Schema" in problem


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_keys = st.sampled_from(
    [
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "description",
        "title",
        "$comment",
        "default",
        "anyOf",
        "minimum",
    ]
)
_schema = st.recursive(
    st.dictionaries(_keys, _json | st.sampled_from(["string", "object", "integer"]), max_size=4),
    lambda inner: st.dictionaries(
        _keys, inner | st.dictionaries(st.sampled_from(["a", "description", "title"]), inner, max_size=3), max_size=4
    ),
    max_leaves=10,
)


def _reword(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: v + "!" if k in ("description", "title", "$comment") and isinstance(v, str) else _reword(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_reword(v) for v in value]
    return value


@settings(max_examples=150, deadline=None)
@given(_schema)
def test_shared_shape_check_agrees_with_a_full_check(body: dict[str, Any]) -> None:
    schema = {**body, "type": "object"}
    reworded = _reword(schema)
    clear_caches()
    parameters_problem(canonical_json(schema))  # warms the shape cache
    assert (parameters_problem(canonical_json(reworded)) is None) == (_check(reworded) is None)
