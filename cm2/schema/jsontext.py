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

_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class JSONLimitError(json.JSONDecodeError):
    """Valid-looking JSON that cm2 refuses: too deep, NaN or Infinity, or a lone surrogate."""


def _check_depth(text: str, max_depth: int) -> None:
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                raise JSONLimitError(f"nested deeper than {max_depth} levels", text, 0)
        else:
            depth -= 1


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


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
    that are not UTF-8)."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    _check_depth(text, max_depth)
    try:
        value = json.loads(text) if allow_nan else json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # only reachable with a max_depth above Python's own limit
        raise JSONLimitError("nested too deeply", text, 0) from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise
        raise JSONLimitError(str(exc), text, 0) from None
    if not allow_lone_surrogates and (match := _SURROGATE_ESCAPE.search(text)):
        problem = value_problem(value, max_depth=max_depth, allow_nan=True)
        if problem is not None:
            raise JSONLimitError(problem, text, match.start())
    return value


def loads_bounded(text: str | bytes | bytearray) -> Any:
    """`json.loads` with only the nesting bound (NaN and surrogates pass): for JSON nested inside records,
    such as tool-call arguments and tool results."""
    return loads(text, allow_nan=True, allow_lone_surrogates=True)
