"""Deterministic checklists from the reference tool calls (no LLM).

For each turn: one item per reference tool call, machine-checkable (`check` with one constraint per
argument), depending on the earlier calls of the turn whose output it uses (see `valueflow`); plus,
optionally, one item for the turn's final visible reply (LLM-judged) and the code-checked turn-end items
of `turn_items` (a visible reply, a call budget, the environment's state).
"""

from __future__ import annotations

import json
from typing import Any

from cm2.annotate.config import ReferenceLabelConfig
from cm2.annotate.render import call_json
from cm2.annotate.turn_items import turn_items
from cm2.annotate.valueflow import CallSite, call_sites, value_flow
from cm2.schema import (
    ArgConstraint,
    ChecklistItem,
    Dialogue,
    Evidence,
    Turn,
    TurnChecklist,
)

_REPLY_SNIPPET_CHARS = 200


def constraint_for(value: Any, opts: ReferenceLabelConfig) -> ArgConstraint | None:
    """The constraint a reference argument value becomes (None: not checked)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ArgConstraint(kind="numeric", value=value, tolerance=opts.numeric_tolerance)
    if isinstance(value, str) and len(value) >= opts.long_text_chars and opts.long_text != "exact":
        return None if opts.long_text == "omit" else ArgConstraint(kind="substring", value=value)
    return ArgConstraint(kind="exact", value=value)


def _describe(name: str, constraint: ArgConstraint) -> str:
    shown = json.dumps(constraint.value, ensure_ascii=False)
    if constraint.kind == "numeric":
        tolerance = f" (±{constraint.tolerance:g})" if constraint.tolerance else ""
        return f"{name} = {shown}{tolerance}"
    if constraint.kind == "substring":
        return f"{name} contains {shown}"
    return f"{name} = {shown}"


def call_item(item_id: str, turn: int, site: CallSite, opts: ReferenceLabelConfig) -> ChecklistItem:
    """The checked item of one reference call."""
    try:
        arguments = site.call.function.parsed_arguments()
    except ValueError:
        arguments = {}
    constraints = {name: c for name, value in arguments.items() if (c := constraint_for(value, opts)) is not None}
    name = site.call.name
    described = "; ".join(_describe(arg, c) for arg, c in constraints.items())
    question = f"Did the assistant call `{name}`" + (f" with {described}?" if described else "?")
    condition = f"There is a call to `{name}`" + (
        f" whose arguments satisfy: {described}." if described else " (its arguments are not constrained)."
    )
    failures = [f"No call to `{name}`"] + [f"`{name}` called with a different `{arg}`" for arg in constraints]
    return ChecklistItem.model_validate(
        {
            "id": item_id,
            "evidence": [
                Evidence(
                    turn=turn, step=site.message_index, source="assistant.tool_calls", snippet=call_json(site.call)
                )
            ],
            "focus_on": "assistant.tool_calls",
            "question": question,
            "pass_condition": condition,
            "failure_examples": failures,
            "required_for_next_turn": opts.call_required,
            "dependence": [],
            "weight": 0.0,
            "check": {"tool": name, "arguments": constraints}
            | ({} if opts.extra_arguments else {"allow_extra_arguments": False}),
        }
    )


def reply_item(item_id: str, turn: Turn, opts: ReferenceLabelConfig) -> ChecklistItem | None:
    """The item of the turn's final visible reply, or None when the turn has none."""
    final = next((s for s in reversed(turn.steps) if s.is_final and s.assistant.visible_text), None)
    if final is None:
        return None
    visible = final.assistant.visible_text
    snippet = visible if len(visible) <= _REPLY_SNIPPET_CHARS else visible[:_REPLY_SNIPPET_CHARS].rsplit(" ", 1)[0]
    uses_tools = bool(call_sites(turn))
    question = (
        "Does the final reply give the user an answer consistent with what the tools returned in this turn?"
        if uses_tools
        else "Does the final reply address the user's message as the reference reply does?"
    )
    return ChecklistItem.model_validate(
        {
            "id": item_id,
            "evidence": [
                Evidence(
                    turn=turn.index,
                    step=final.message_index,
                    source="assistant.content.user_visible_reply",
                    snippet=snippet,
                )
            ],
            "focus_on": "assistant.content.user_visible_reply",
            "question": question,
            "pass_condition": "The reply conveys the same outcome as the reference reply and states nothing that "
            "the conversation or the tool results do not support.",
            "failure_examples": [
                "No reply to the user",
                "The reply contradicts the tool results",
                "The reply invents results that no tool returned",
            ],
            "required_for_next_turn": opts.reply_required,
            "dependence": [],
            "weight": 0.0,
        }
    )


def _known_context(dialogue: Dialogue, turn: Turn) -> list[str]:
    """Texts whose values exist before this turn's calls run (system prompt, earlier turns)."""
    texts = [dialogue.system.content or ""] if dialogue.system is not None else []
    for message in dialogue.messages[: turn.start]:
        texts.append(message.content or "")
        texts.extend(call_json(call) for call in message.calls)
    return texts


def _weigh(turn: TurnChecklist, fixed: dict[str, float]) -> None:
    """Items in `fixed` get that weight and the call items share the rest equally; all items equal when
    there is no call item to take the rest."""
    if not turn.items:
        return
    calls = [item for item in turn.items if item.id not in fixed]
    if not calls:
        fixed = {}
        calls = turn.items
    rest = 1 - sum(fixed.values())
    if rest < -1e-9:
        raise ValueError(f"the fixed item weights of a turn sum to {1 - rest:g}, more than 1")
    for item in turn.items:
        item.weight = fixed[item.id] if item.id in fixed else rest / len(calls)


def label_turn(dialogue: Dialogue, turn: Turn, opts: ReferenceLabelConfig) -> TurnChecklist:
    """The deterministic checklist of one turn."""
    sites = call_sites(turn)
    items = [call_item(f"C{n}", turn.index, site, opts) for n, site in enumerate(sites)]
    for b, sources in value_flow(turn, _known_context(dialogue, turn), min_chars=opts.min_value_chars).items():
        items[b].dependence = [items[a].id for a in sources]
    call_items = list(items)
    call_ids = [item.id for item in items]
    fixed: dict[str, float] = {}
    if opts.final_reply_item:
        reply = reply_item(f"C{len(items)}", turn, opts)
        if reply is not None:
            if opts.reply_depends_on_calls:
                reply.dependence = list(call_ids)
            if opts.reply_weight is not None:
                fixed[reply.id] = opts.reply_weight
            items.append(reply)
    for extra in turn_items(dialogue, turn, call_items, len(items), opts.turn_checks):
        if opts.turn_checks.weight is not None:
            fixed[extra.id] = opts.turn_checks.weight
        items.append(extra)
    checklist = TurnChecklist(items=items)
    _weigh(checklist, fixed)
    return checklist


def label_from_reference(dialogue: Dialogue, opts: ReferenceLabelConfig | None = None) -> Dialogue:
    """`dialogue` with one deterministic checklist (replacing any it had)."""
    options = opts or ReferenceLabelConfig()
    checklist = [label_turn(dialogue, turn, options) for turn in dialogue.turns()]
    return dialogue.model_copy(update={"checklists": [checklist]})
