"""Items decided in code from how a turn ends: a visible reply, a call budget, the environment's state, no call
beyond the reference's."""

from __future__ import annotations

import json

from cm2.judge.checks import call_meets
from cm2.schema import AssistantStep, Message, ToolCallCheck, Turn, TurnCheck
from cm2.tools import ERROR_KEY


def _error_code(message: Message) -> str | None:
    try:
        value = json.loads(message.content or "")
    except json.JSONDecodeError:
        return None
    body = value.get(ERROR_KEY) if isinstance(value, dict) else None
    return str(body.get("code")) if isinstance(body, dict) else None


def malformed_outputs(step: AssistantStep) -> int:
    """Tool-call attempts of `step` that did not parse (answered with the `malformed_tool_call` error)."""
    return sum(1 for message in step.tool_messages if _error_code(message) == "malformed_tool_call")


def call_attempts(turn: Turn, upto: int) -> int:
    """Tool calls made in steps 0..`upto` of `turn`, plus outputs whose calls did not parse."""
    return sum(len(step.calls) + malformed_outputs(step) for step in turn.steps[: upto + 1])


def _stray_call(turn: Turn, upto: int, allowed: list[ToolCallCheck]) -> str | None:
    """The first attempt in steps 0..`upto` of `turn` that meets none of `allowed` (its name), else None."""
    for step in turn.steps[: upto + 1]:
        if malformed_outputs(step):
            return "a call that did not parse"
        for call in step.calls:
            if not any(call_meets(check, call) for check in allowed):
                return f"{call.name}(…)"
    return None


def decide_turn_check(check: TurnCheck, turn: Turn, step: AssistantStep) -> tuple[bool | None, str]:
    """The check's verdict at `step` of `turn` with a one-line reason (None: the environment reported nothing)."""
    if not step.ends_turn:
        return False, "this step does not end the turn with a visible reply"
    if check.kind == "ends_with_reply":
        return True, "the turn ends with a visible reply"
    if check.kind == "call_budget":
        attempts = call_attempts(turn, step.index)
        within = check.max_calls is not None and attempts <= check.max_calls
        return within, f"{attempts} tool-call attempts in the turn, budget {check.max_calls}"
    if check.kind == "reference_calls_only":
        stray = _stray_call(turn, step.index, check.calls or [])
        if stray is not None:
            return False, f"{stray} is none of the turn's {len(check.calls or [])} reference call(s)"
        return True, "every call of the turn is one of the reference's"
    if step.state is None:
        return None, "the tool environment reported no state for this turn"
    if step.state.matched:
        return True, "the environment's state matches the reference after this turn"
    return False, f"the environment's state {step.state.reason or 'differs from the reference'}"
