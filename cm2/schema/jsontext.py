"""Parsing JSON text we did not write, within limits: bounded nesting, no NaN, no lone UTF-16 surrogates.

`json.loads` recurses once per nesting level, and so does everything that later walks the value
(pydantic, `json.dumps`, deep copies): a line of 3000 `[` raises `RecursionError` somewhere far from the
file it came from. Text that is valid JSON but not valid Unicode (a lone `"\\ud83c"`) cannot be written
back as UTF-8. `loads` refuses both up front with a `JSONLimitError`, which is a `json.JSONDecodeError`,
so every caller that handles invalid JSON handles these too.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_JSON_DEPTH = 128
"""Deepest nesting of arrays and objects accepted (real records stay far below; Python's limit is ~1000)."""

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class JSONLimitError(json.JSONDecodeError):
    """Valid-looking JSON that cm2 refuses: too deep, NaN or Infinity, or a lone surrogate."""


def _bracket_count(text: str | bytes) -> int:
    """An upper bound of the nesting depth (brackets inside strings count too); cheapest on bytes."""
    if isinstance(text, str):
        return text.count("[") + text.count("{")
    return text.count(b"[") + text.count(b"{")


def _deeper_than(value: Any, max_depth: int) -> bool:
    """Whether containers nest more than `max_depth` levels in a parsed value (level by level, no recursion)."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(max_depth):
        below: list[Any] = []
        for node in level:
            below.extend(child for child in (node.values() if type(node) is dict else node) if type(child) in _NESTED)
        if not below:
            return False
        level = below
    return True


_NESTED = (dict, list)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_PLAIN = json.JSONDecoder()
_NO_NAN = json.JSONDecoder(parse_constant=_reject_constant)  # built once: json.loads(**kw) builds one per call


def _path(parts: list[str | int]) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return text.removeprefix(".") or "the value"


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def value_problem(value: Any, *, max_depth: int = MAX_JSON_DEPTH, allow_nan: bool = False) -> str | None:
    """Why a parsed value breaks the limits of `loads` (naming the field), or None. Iterative: safe on any depth."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        node, path = stack.pop()
        if len(path) > max_depth:
            return f"nested deeper than {max_depth} levels at {_path(path[:8])}…"
        if isinstance(node, str):
            if _has_lone_surrogate(node):
                return f"a lone UTF-16 surrogate in {_path(path)} (not valid Unicode)"
        elif isinstance(node, float):
            if not allow_nan and not math.isfinite(node):
                return f"{node} in {_path(path)} is not JSON"
        elif isinstance(node, dict):
            for key, item in node.items():
                if isinstance(key, str) and _has_lone_surrogate(key):
                    return f"a lone UTF-16 surrogate in a key of {_path(path)} (not valid Unicode)"
                stack.append((item, [*path, str(key)]))
        elif isinstance(node, list | tuple):
            stack.extend((item, [*path, index]) for index, item in enumerate(node))
    return None


def loads(
    text: str | bytes | bytearray,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    allow_nan: bool = False,
    allow_lone_surrogates: bool = False,
) -> Any:
    """`json.loads` within the limits above; raises `json.JSONDecodeError` (or `UnicodeDecodeError` on bytes
    that are not UTF-8).

    Python's decoder itself stops at about 1000 levels with a `RecursionError`, caught here; shallower
    values are measured after parsing, and only when they hold more than `max_depth` brackets.
    """
    raw = text if isinstance(text, str) else bytes(text)
    maybe_deep = _bracket_count(raw) > max_depth
    surrogate_at: int | None = None
    if not allow_lone_surrogates:
        found = _SURROGATE_ESCAPE.search(raw) if isinstance(raw, str) else _SURROGATE_ESCAPE_BYTES.search(raw)
        surrogate_at = found.start() if found is not None else None
    string = raw if isinstance(raw, str) else raw.decode("utf-8")
    try:
        value = (_PLAIN if allow_nan else _NO_NAN).decode(string)
    except RecursionError:
        raise JSONLimitError(f"nested deeper than {max_depth} levels", string, 0) from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise
        raise JSONLimitError(str(exc), string, 0) from None
    if maybe_deep and _deeper_than(value, max_depth):
        raise JSONLimitError(f"nested deeper than {max_depth} levels", string, 0)
    if surrogate_at is not None:
        problem = value_problem(value, max_depth=max_depth, allow_nan=True)
        if problem is not None:
            raise JSONLimitError(problem, string, surrogate_at)
    return value


def loads_bounded(text: str | bytes | bytearray) -> Any:
    """`json.loads` with only the nesting bound (NaN and surrogates pass): for JSON nested inside records,
    such as tool-call arguments and tool results."""
    return loads(text, allow_nan=True, allow_lone_surrogates=True)
