"""Canonical JSON of tool calls, so that equal calls compare equal whatever their spelling."""

from __future__ import annotations

import json
import math
from typing import Any


def _normalise(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        # 1.0 and 1 are the same JSON number; keep non-finite floats as they are.
        return int(value) if math.isfinite(value) and value.is_integer() else value
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys and integral floats written as integers."""
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def call_key(name: str, arguments: dict[str, Any]) -> str:
    """The identity of a call: its tool name and canonical arguments."""
    return f"{name}\x00{canonical_json(arguments)}"
