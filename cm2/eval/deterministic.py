"""Checklists reduced to the items code can decide, for evaluation without a judge endpoint.

An item with a `check` (a tool call's name and arguments) is decided in code; any other item (a reply or
thinking item) needs the LLM judge. Without an endpoint such an item would get an unavailable verdict that
counts as failed, so even a perfect policy could not reach 100%. Evaluation without a judge therefore scores
the deterministic items only: the others are dropped, with any dependency on them, and the weights kept
(the held-out checklist score divides by the weight a turn can earn, so they need not sum to 1).
"""

from __future__ import annotations

from cm2.schema import Dialogue, TurnChecklist


def deterministic_turn(turn: TurnChecklist) -> TurnChecklist:
    """The turn's items that have a `check`, their dependencies limited to items that remain."""
    kept = [item for item in turn.items if item.check is not None]
    ids = {item.id for item in kept}
    return TurnChecklist(
        items=[item.model_copy(update={"dependence": [d for d in item.dependence if d in ids]}) for item in kept]
    )


def deterministic_only(dialogue: Dialogue) -> Dialogue:
    """`dialogue` with every checklist reduced to its deterministic items (turns may end up empty)."""
    checklists = [[deterministic_turn(turn) for turn in checklist] for checklist in dialogue.checklists]
    return dialogue.model_copy(update={"checklists": checklists})


def earnable_weight(checklist: list[TurnChecklist]) -> float:
    """The most a rollout can earn over the whole checklist: the sum of every item's weight."""
    return sum(item.weight for turn in checklist for item in turn.items)
