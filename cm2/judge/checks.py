"""Items decided in code: a `ToolCallCheck` holds when some tool call of the step meets every constraint."""

from __future__ import annotations

import json
import math
from typing import Any

from cm2.schema import ArgConstraint, ToolCall, ToolCallCheck


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def values_equal(expected: Any, actual: Any, tolerance: float = 0.0) -> bool:
    """Canonical equality of JSON values: numbers by value (1 == 1.0, within `tolerance`),
    objects regardless of key order, lists in order, booleans never equal to numbers."""
    if _is_number(expected) and _is_number(actual):
        return math.isclose(float(expected), float(actual), rel_tol=0.0, abs_tol=tolerance)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            values_equal(expected[key], actual[key], tolerance) for key in expected
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            values_equal(e, a, tolerance) for e, a in zip(expected, actual, strict=True)
        )
    return type(expected) is type(actual) and bool(expected == actual)


def _as_number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def constraint_holds(constraint: ArgConstraint, actual: Any) -> bool:
    """Whether one argument value meets its constraint.

    `numeric` also accepts a number written as a string ("3.5"); `substring` compares case-insensitively.
    """
    if constraint.kind == "exact":
        return values_equal(constraint.value, actual, constraint.tolerance)
    if constraint.kind == "one_of":
        return any(values_equal(option, actual, constraint.tolerance) for option in constraint.values or [])
    if constraint.kind == "numeric":
        number = _as_number(actual)
        return number is not None and abs(number - float(constraint.value)) <= constraint.tolerance
    return isinstance(actual, str) and str(constraint.value).casefold() in actual.casefold()


def call_meets(check: ToolCallCheck, call: ToolCall) -> bool:
    """Whether one tool call names the checked tool and meets every argument constraint."""
    if call.name != check.tool:
        return False
    try:
        arguments = call.function.parsed_arguments()
    except ValueError:
        return False
    for name, constraint in check.arguments.items():
        if name not in arguments or not constraint_holds(constraint, arguments[name]):
            return False
    return check.allow_extra_arguments or set(arguments) <= set(check.arguments)


def explain(check: ToolCallCheck, calls: list[ToolCall]) -> tuple[bool, str]:
    """The check's outcome on a step's calls, with a one-line reason."""
    constraints = {
        name: {"kind": c.kind, **c.model_dump(mode="json", exclude_defaults=True)}
        for name, c in check.arguments.items()
    }
    wanted = f"{check.tool}({json.dumps(constraints, ensure_ascii=False)})"
    for call in calls:
        if call_meets(check, call):
            return True, f"call {call.name} meets {wanted}"
    if not calls:
        return False, f"no tool call at this step; wanted {wanted}"
    names = ", ".join(call.name for call in calls)
    return False, f"no call among [{names}] meets {wanted}"
