"""Semantic checks of checklists against their dialogue, with messages that say exactly where."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cm2.schema.checklist import TurnChecklist
from cm2.schema.dialogue import Dialogue

DEFAULT_WEIGHT_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Issue:
    """One problem found in a dialogue's checklists."""

    dialogue: str
    message: str
    checklist: int | None = None
    turn: int | None = None
    item: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = [f"dialogue {self.dialogue}"]
        if self.checklist is not None:
            where.append(f"checklist {self.checklist}")
        if self.turn is not None:
            where.append(f"turn {self.turn}")
        if self.item is not None:
            where.append(f"item {self.item}")
        if self.field is not None:
            where.append(f"field {self.field}")
        return f"{', '.join(where)}: {self.message}"


class ChecklistError(ValueError):
    """Raised with every issue found, one per line."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


def find_cycle(dependencies: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as a list of ids (first id repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in dependencies.get(node, []):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep in dependencies and state.get(dep) is None:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in dependencies:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def renormalize_weights(turn: TurnChecklist) -> None:
    """Scale a turn's weights to sum to 1 (equal weights when they are all zero)."""
    total = sum(item.weight for item in turn.items)
    for item in turn.items:
        item.weight = item.weight / total if total > 0 else 1.0 / len(turn.items)


def _check_turn(
    dialogue: Dialogue, k: int, t: int, turn: TurnChecklist, tolerance: float, renormalize: bool
) -> list[Issue]:
    issues: list[Issue] = []
    turns = dialogue.turns()

    def issue(message: str, item: str | None = None, field: str | None = None) -> None:
        issues.append(Issue(dialogue.uuid, message, k, t, item, field))

    if not turn.items:
        return issues
    seen: set[str] = set()
    for item in turn.items:
        if item.id in seen:
            issue("duplicate item id", item.id, "id")
        seen.add(item.id)
    for item in turn.items:
        for dep in item.dependence:
            if dep == item.id:
                issue("an item cannot depend on itself", item.id, "dependence")
            elif dep not in seen:
                issue(f"depends on {dep!r}, which is not an item of this turn", item.id, "dependence")
        for n, ev in enumerate(item.evidence):
            if ev.turn >= len(turns):
                issue(f"evidence[{n}].turn={ev.turn} but the dialogue has {len(turns)} turns", item.id, "evidence")
            elif ev.step >= len(turns[ev.turn].messages):
                issue(
                    f"evidence[{n}].step={ev.step} but turn {ev.turn} has {len(turns[ev.turn].messages)} messages",
                    item.id,
                    "evidence",
                )
    cycle = find_cycle({item.id: [d for d in item.dependence if d != item.id] for item in turn.items})
    if cycle:
        issue("dependency cycle " + " -> ".join(cycle), cycle[0], "dependence")
    if renormalize:
        renormalize_weights(turn)
    total = sum(item.weight for item in turn.items)
    if not math.isclose(total, 1.0, abs_tol=tolerance):
        issue(f"weights sum to {total:.6g}, not 1 (tolerance {tolerance})", None, "weight")
    return issues


def check_dialogue(
    dialogue: Dialogue, *, tolerance: float = DEFAULT_WEIGHT_TOLERANCE, renormalize: bool = False
) -> list[Issue]:
    """Every issue of every checklist of `dialogue`. With `renormalize`, weights are rescaled in place first."""
    issues: list[Issue] = []
    num_turns = len(dialogue.turns())
    for k, checklist in enumerate(dialogue.checklists):
        if len(checklist) > num_turns:
            issues.append(Issue(dialogue.uuid, f"has {len(checklist)} turns but the dialogue has {num_turns}", k))
        for t, turn in enumerate(checklist):
            issues.extend(_check_turn(dialogue, k, t, turn, tolerance, renormalize))
    return issues


def validate_dialogue(
    dialogue: Dialogue, *, tolerance: float = DEFAULT_WEIGHT_TOLERANCE, renormalize: bool = False
) -> Dialogue:
    """Return `dialogue` if its checklists are sound, else raise `ChecklistError` listing every issue."""
    issues = check_dialogue(dialogue, tolerance=tolerance, renormalize=renormalize)
    if issues:
        raise ChecklistError(issues)
    return dialogue
