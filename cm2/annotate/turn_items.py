"""Checklist items decided in code from how a turn ends (see `cm2.schema.TurnCheck`), for reference labeling.

They make flailing cost reward: a turn cut at the step limit earns none of them, extra or malformed call
attempts fail the call budget, a wrong call that changes the environment's state fails the state item, and a
call the reference did not make fails `reference_calls_only` even within the budget (without it, a policy
short of the reference's call count could add guesses for free: read-only ones leave the state as it was,
and the learning run of December 6 (run 3) raised such stray calls on held-out turns from 41 to 69).
Each depends on the turn's first call item only, so a turn answered without starting its work earns nothing
from them, while a policy that starts right but then misses a call still loses the budget item by flailing
(when every call item gated them, extra attempts cost nothing once any call was missed: the learning run
of December 6 learned exactly that, calls per held-out turn 1.45 → 2.26).
"""

from __future__ import annotations

from cm2.annotate.config import TurnCheckConfig
from cm2.schema import ChecklistItem, Dialogue, Evidence, ToolCallCheck, Turn, TurnCheckKind, TurnChecklist

STATE_MARKER = "environment_reports_state"
"""A dialogue field: true when the dialogue's tool environment can report whether its state matches the
reference after each turn (a benchmark's importer sets it)."""

_SNIPPET_CHARS = 200
_TEXT: dict[TurnCheckKind, tuple[str, str, list[str]]] = {
    "ends_with_reply": (
        "assistant.content.user_visible_reply",
        "Did the assistant end the turn with a visible reply to the user?",
        ["The turn was cut at the step limit", "The assistant kept calling tools"],
    ),
    "call_budget": (
        "assistant.tool_calls",
        "Did the assistant finish the turn within {budget} tool-call attempts?",
        ["More calls than needed", "A call repeated", "A malformed call retried"],
    ),
    "environment_state": (
        "tool.content",
        "When the turn ended, was the tool environment's state the reference state after this turn?",
        ["A wrong call changed the state", "A needed change was not made"],
    ),
    "reference_calls_only": (
        "assistant.tool_calls",
        "Was every tool call of the turn one that the task needs (no call beyond the reference's {count})?",
        ["A guessed call to another tool", "A call with other arguments", "A malformed call"],
    ),
}


def wants_turn_checks(dialogue: Dialogue, opts: TurnCheckConfig) -> bool:
    if opts.mode == "auto":
        return reports_state(dialogue)
    return opts.mode == "on"


def reports_state(dialogue: Dialogue) -> bool:
    return (dialogue.model_extra or {}).get(STATE_MARKER) is True


def _evidence(turn: Turn) -> list[Evidence]:
    final = next((s for s in reversed(turn.steps) if s.is_final and s.assistant.visible_text), None)
    if final is None:
        return []
    text = final.assistant.visible_text
    snippet = text if len(text) <= _SNIPPET_CHARS else text[:_SNIPPET_CHARS].rsplit(" ", 1)[0]
    return [
        Evidence(
            turn=turn.index, step=final.message_index, source="assistant.content.user_visible_reply", snippet=snippet
        )
    ]


def turn_item(
    item_id: str, kind: TurnCheckKind, turn: Turn, calls: list[str], opts: TurnCheckConfig, checks: list[ToolCallCheck]
) -> ChecklistItem:
    """One turn-end item; `calls` are the ids of the turn's call items (the first one gates every turn-end item),
    `checks` their checks (what `reference_calls_only` lets through)."""
    focus, question, failures = _TEXT[kind]
    budget = sum(len(step.calls) for step in turn.steps) + (opts.call_budget_slack or 0)
    check: dict[str, object] = {"kind": kind}
    if kind == "call_budget":
        check["max_calls"] = budget
    if kind == "reference_calls_only":
        check["calls"] = [c.model_dump(mode="json") for c in checks]
    return ChecklistItem.model_validate(
        {
            "id": item_id,
            "evidence": _evidence(turn),
            "focus_on": focus,
            "question": question.format(budget=budget, count=len(checks)),
            "pass_condition": "Decided in code when the turn ends with a visible reply.",
            "failure_examples": failures,
            "required_for_next_turn": False,
            "dependence": calls[:1],
            "weight": 0.0,
            "check": check,
        }
    )


def _kinds(dialogue: Dialogue, opts: TurnCheckConfig, checks: list[ToolCallCheck] | None) -> list[TurnCheckKind]:
    """`checks`: the turn's call items' checks, None when some call item is not decided in code."""
    if not wants_turn_checks(dialogue, opts):
        return []
    kinds: list[TurnCheckKind] = ["ends_with_reply"]
    if opts.call_budget_slack is not None:
        kinds.append("call_budget")
    if reports_state(dialogue):
        kinds.append("environment_state")
    if opts.reference_calls_only and checks is not None:
        kinds.append("reference_calls_only")
    return kinds


def call_checks(items: list[ChecklistItem]) -> list[ToolCallCheck] | None:
    """The checks of the items about tool calls; None when one of them has none (an LLM decides it)."""
    calls = [item for item in items if item.focus_on == "assistant.tool_calls"]
    checks = [item.check for item in calls if isinstance(item.check, ToolCallCheck)]
    return checks if len(checks) == len(calls) else None


def turn_items(
    dialogue: Dialogue, turn: Turn, call_items: list[ChecklistItem], first_id: int, opts: TurnCheckConfig
) -> list[ChecklistItem]:
    """The turn-end items the options ask for, numbered from `C{first_id}`."""
    checks = call_checks(call_items)
    ids = [item.id for item in call_items]
    return [
        turn_item(f"C{first_id + n}", kind, turn, ids, opts, checks or [])
        for n, kind in enumerate(_kinds(dialogue, opts, checks))
    ]


def _free_id(base: str, taken: set[str]) -> str:
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def with_turn_items(dialogue: Dialogue, checklist: list[TurnChecklist], opts: TurnCheckConfig) -> list[TurnChecklist]:
    """An LLM-written checklist with the turn-end items appended to every turn (ids named by kind). The
    turn's items about tool calls play the call items' part in the dependencies; the weights are rescaled
    so each turn still sums to 1 (each turn-end item gets `opts.weight`, else 1/(items of the turn))."""
    if not wants_turn_checks(dialogue, opts):
        return checklist
    out = []
    for turn, items in zip(dialogue.turns(), checklist, strict=False):
        taken = set(items.ids)
        calls = [item.id for item in items.items if item.focus_on == "assistant.tool_calls"]
        checks = call_checks(items.items)
        kinds = _kinds(dialogue, opts, checks)
        extra = []
        for kind in kinds:
            extra.append(turn_item(_free_id(kind, taken), kind, turn, calls, opts, checks or []))
            taken.add(extra[-1].id)
        n, k = len(items.items), len(extra)
        weight = 1 / k if n == 0 else 1 / (n + k) if opts.weight is None else min(opts.weight, 1 / k)
        kept = 1 - weight * k
        rescaled = [item.model_copy(update={"weight": item.weight * kept}) for item in items.items]
        out.append(TurnChecklist(items=[*rescaled, *[e.model_copy(update={"weight": weight}) for e in extra]]))
    return [*out, *checklist[len(out) :]]
