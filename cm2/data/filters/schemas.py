"""JSON Schema checks for tool parameters, cached by canonical JSON so each distinct schema is checked once.

A corpus repeats the same tools across thousands of dialogues, so the metaschema check and the
compiled validator of a parameter schema are computed once per distinct schema (bounded LRU caches
keyed by `canonical_json`), not once per dialogue; schemas that differ only in their descriptions
share one metaschema check.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.protocols import Validator
from referencing import Registry

from cm2.data.filters.types import json_type

_NO_RETRIEVAL: Registry[Any] = Registry()
EMPTY_OBJECT_SCHEMA = '{"properties":{},"type":"object"}'


def canonical_json(value: Any) -> str:
    """Key-sorted, compact JSON: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def clip(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _path(parts: Any) -> str:
    return "/".join(str(part) for part in parts) or "(root)"


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SCHEMA_VALUES = (
    "items", "additionalItems", "additionalProperties", "unevaluatedItems", "unevaluatedProperties",
    "contains", "propertyNames", "not", "if", "then", "else",
)  # fmt: skip
_ANNOTATIONS = frozenset({"description", "title", "$comment"})


def _subschemas(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """(path step, subschema) for every schema nested directly in `schema`."""
    found: list[tuple[str, Any]] = []
    for key in _SCHEMA_MAPS:
        value = schema.get(key)
        if isinstance(value, dict):
            found.extend((f"{key}/{name}", sub) for name, sub in value.items())
    for key in _SCHEMA_LISTS:
        value = schema.get(key)
        if isinstance(value, list):
            found.extend((f"{key}/{position}", sub) for position, sub in enumerate(value))
    found.extend((key, schema[key]) for key in _SCHEMA_VALUES if isinstance(schema.get(key), dict))
    return found


def _required_outside_properties(schema: Any, where: str = "") -> str | None:
    """The first `required` name missing from its sibling `properties`, searched through nested schemas."""
    if not isinstance(schema, dict):
        return None
    required, properties = schema.get("required"), schema.get("properties")
    if isinstance(required, list) and isinstance(properties, dict):
        for name in required:
            if name not in properties:
                return f"required {name!r} is not in properties" + (f" at {where}" if where else "")
    for step, sub in _subschemas(schema):
        found = _required_outside_properties(sub, f"{where}/{step}" if where else step)
        if found:
            return found
    return None


def _check(schema: Any) -> str | None:
    """Why `schema` is not a valid function parameter schema, or None."""
    if not isinstance(schema, dict):
        return f"parameters is {json_type(schema)}, not an object"
    if schema.get("type") != "object":
        return f"parameters type is {schema.get('type')!r}, expected 'object'"
    cls = validators.validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        return clip(f"parameters is not a valid JSON Schema: {exc.message} (at {_path(exc.absolute_path)})")
    except Exception as exc:  # a broken $schema or $ref can raise from deep inside jsonschema
        return clip(f"parameters is not a usable JSON Schema: {type(exc).__name__}: {exc}")
    return _required_outside_properties(schema)


def _blank_annotations(value: Any) -> Any:
    """`value` with the text of every description, title and $comment emptied."""
    if isinstance(value, dict):
        return {
            key: "" if key in _ANNOTATIONS and isinstance(item, str) else _blank_annotations(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_blank_annotations(item) for item in value]
    return value


@lru_cache(maxsize=65536)
def _shape_problem(shape: str) -> str | None:
    return _check(json.loads(shape))


@lru_cache(maxsize=65536)
def parameters_problem(key: str) -> str | None:
    """Why the parameter schema with canonical JSON `key` is not a valid function schema, or None.

    Tools often share a schema's shape and differ only in their descriptions. Every metaschema
    constrains `description`, `title` and `$comment` to be strings and nothing more, so swapping one
    string for another never changes validity: a schema whose annotation-blanked shape was already
    found valid is valid without another (slow) metaschema check. Invalid shapes are re-checked in
    full, so the reason quotes this schema.
    """
    schema = json.loads(key)
    shape = canonical_json(_blank_annotations(schema))
    problem = _shape_problem(shape)
    return problem if problem is None or shape == key else _check(schema)


@lru_cache(maxsize=8192)
def validator_for(key: str) -> Validator:
    """A compiled validator for the (already checked) parameter schema with canonical JSON `key`."""
    schema = json.loads(key)
    cls = validators.validator_for(schema, default=Draft202012Validator)
    # An explicit registry without `retrieve`: a remote `$ref` is unresolvable rather than fetched
    # (jsonschema's default registry downloads it).
    validator: Validator = cls(schema, registry=_NO_RETRIEVAL)
    return validator


def arguments_problem(key: str, arguments: dict[str, Any]) -> str | None:
    """Why `arguments` violate the parameter schema with canonical JSON `key`, or None."""
    validator = validator_for(key)
    try:
        if validator.is_valid(arguments):
            return None
        error = best_match(validator.iter_errors(arguments))
    except Exception as exc:  # unresolvable $ref, bad regex: the schema cannot judge these arguments
        return clip(f"arguments cannot be checked against the schema ({exc})")
    if error is None:  # pragma: no cover - is_valid said invalid, so there is an error
        return "arguments violate the tool's parameter schema"
    return clip(f"arguments violate the schema: {error.message} (at {_path(error.absolute_path)})")


def clear_caches() -> None:
    """Forget every cached schema check and validator (benchmarks use this for a cold baseline)."""
    parameters_problem.cache_clear()
    _shape_problem.cache_clear()
    validator_for.cache_clear()
