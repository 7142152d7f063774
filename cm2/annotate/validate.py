"""Checks an LLM-written checklist must pass before it is accepted, phrased for the model to act on.

On top of `cm2.schema.check_dialogue` (ids, dependencies, evidence ranges, weights): one turn checklist
per dialogue turn, items in every turn, evidence that exists and is quoted faithfully, and `check`s
that name real tools and parameters.
"""

from __future__ import annotations

import math
from typing import Any

from cm2.annotate.config import ValidationConfig
from cm2.annotate.evidence import evidence_problem
from cm2.schema import (
    ChecklistItem,
    Dialogue,
    Issue,
    ToolSpec,
    TurnCheck,
    TurnChecklist,
    check_dialogue,
    renormalize_weights,
)

_NUMBER_TYPES = frozenset({"number", "integer"})


def _issue_text(issue: Issue) -> str:
    where = [f"turn {issue.turn}"] if issue.turn is not None else []
    if issue.item is not None:
        where.append(f"item {issue.item}")
    if issue.field is not None:
        where.append(f"field {issue.field}")
    return f"{', '.join(where)}: {issue.message}" if where else issue.message


def _types(schema: Any) -> set[str]:
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, str):
        return {kind}
    return {k for k in kind if isinstance(k, str)} if isinstance(kind, list) else set()


def check_problems(item: ChecklistItem, tools: list[ToolSpec], called: set[str]) -> list[str]:
    """Why `item.check` cannot be evaluated against this dialogue's tools (empty when it can)."""
    check = item.check
    if check is None or isinstance(check, TurnCheck):
        return []  # a turn check names no tool: any dialogue can be judged on it
    where = f"item {item.id}, field check"
    if item.focus_on != "assistant.tool_calls":
        return [f"{where}: a check is allowed only on items with focus_on assistant.tool_calls"]
    specs = {tool.name: tool for tool in tools}
    known = set(specs) or called
    if check.tool not in known:
        return [f"{where}: tool {check.tool!r} is not a tool of this dialogue (tools: {', '.join(sorted(known))})"]
    spec = specs.get(check.tool)
    properties = spec.function.parameters.get("properties") if spec is not None else None
    if not isinstance(properties, dict):
        return []
    problems = []
    for name, constraint in check.arguments.items():
        if name not in properties:
            params = ", ".join(properties) or "none"
            problems.append(f"{where}: {check.tool} has no parameter {name!r} (parameters: {params})")
            continue
        types = _types(properties[name])
        if constraint.kind == "numeric" and types and not types & _NUMBER_TYPES:
            problems.append(f"{where}: parameter {name!r} is {'/'.join(sorted(types))}, not a number")
        if constraint.kind == "substring" and types and "string" not in types:
            problems.append(f"{where}: parameter {name!r} is {'/'.join(sorted(types))}, not a string")
    return problems


def _evidence_problems(dialogue: Dialogue, turn_index: int, item: ChecklistItem, opts: ValidationConfig) -> list[str]:
    turns = dialogue.turns()
    problems = []
    if opts.require_evidence and not item.evidence:
        problems.append(f"turn {turn_index}, item {item.id}, field evidence: give at least one evidence pointer")
    for n, ev in enumerate(item.evidence):
        where = f"turn {turn_index}, item {item.id}, field evidence[{n}]"
        if ev.turn > turn_index:
            problems.append(
                f"{where}: points at turn {ev.turn}, a later turn; evidence must come from turn ≤ {turn_index}"
            )
            continue
        if ev.turn >= len(turns) or ev.step >= len(turns[ev.turn].messages):
            continue  # check_dialogue reports the range
        if opts.check_snippets:
            message = turns[ev.turn].messages[ev.step]
            problem = evidence_problem(message, ev.source, ev.snippet)
            if problem:
                problems.append(f"{where} (turn {ev.turn}, step {ev.step}): {problem}")
    return problems


def rescale_near_one(checklist: list[TurnChecklist], slack: float) -> None:
    """Rescale in place the turns whose weights sum to within `slack` of 1 (rounding noise)."""
    for turn in checklist:
        total = sum(item.weight for item in turn.items)
        if turn.items and total > 0 and math.isclose(total, 1.0, abs_tol=slack):
            renormalize_weights(turn)


def checklist_problems(dialogue: Dialogue, checklist: list[TurnChecklist], opts: ValidationConfig) -> list[str]:
    """Every problem of `checklist` (one TurnChecklist per turn) against `dialogue`; empty when it is sound.

    Weights within `opts.weight_slack` of summing to 1 are rescaled in place first.
    """
    num_turns = len(dialogue.turns())
    problems: list[str] = []
    if len(checklist) != num_turns:
        problems.append(f"the checklist has {len(checklist)} turns but the dialogue has {num_turns}")
    rescale_near_one(checklist, opts.weight_slack)
    probe = dialogue.model_copy(update={"checklists": [checklist]})
    problems.extend(_issue_text(issue) for issue in check_dialogue(probe))
    called = {call.name for message in dialogue.messages for call in message.calls}
    for t, turn in enumerate(checklist):
        if opts.require_items and not turn.items:
            problems.append(f"turn {t}: has no items; write at least one check for every turn")
        for item in turn.items:
            if not item.question.strip():
                problems.append(f"turn {t}, item {item.id}, field question: is empty")
            problems.extend(_evidence_problems(dialogue, t, item, opts))
            if opts.check_tool_checks:
                problems.extend(f"turn {t}, {p}" for p in check_problems(item, dialogue.tools, called))
    return problems
