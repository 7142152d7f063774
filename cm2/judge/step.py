"""What the episode runner asks the judge after each assistant step of a rollout in progress."""

from __future__ import annotations

from dataclasses import dataclass

from cm2.schema import AssistantStep, ChecklistItem, Dialogue, Message


@dataclass(frozen=True)
class StepToJudge:
    """One step of a rollout in progress and the turn's open items to decide right after it.

    `history` is the rollout so far, ending with `step` and the tool responses answering it.
    """

    dialogue: Dialogue
    history: list[Message]
    step: AssistantStep
    items: list[ChecklistItem]
