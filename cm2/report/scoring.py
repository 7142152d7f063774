"""Flips, per-step rewards and advantages of recorded rollouts, recomputed with `cm2.scoring`.

A run's trajectories carry their trajectory and turn rewards but not what each step earned or the
advantage each step was trained with; those follow from the verdicts, the checklist and the rollout's
group, exactly as the trainer computed them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cm2.reward import RewardConfig
from cm2.schema import Dialogue, Verdict
from cm2.scoring import Judged, RolloutScores, rollout_scores, score_group


@dataclass(frozen=True)
class RolloutInput:
    """What scoring needs of one rollout: its verdicts and how many assistant steps each reached turn has."""

    dialogue_uuid: str
    group: str | None
    rollout: int
    checklist: int
    verdicts: list[Verdict]
    steps: list[int]
    """Assistant steps of each reached turn."""

    def steps_per_turn(self) -> list[int]:
        return self.steps


class GroupMember(Protocol):
    """What grouping looks at (a `Trajectory`, a judge record or a `RolloutInput`)."""

    @property
    def dialogue_uuid(self) -> str: ...
    @property
    def group(self) -> str | None: ...
    @property
    def checklist(self) -> int: ...
    @property
    def rollout(self) -> int: ...


def rollout_groups(inputs: Sequence[GroupMember]) -> list[list[int]]:
    """Indices of the rollouts of each group, in file order.

    A group is a run of consecutive records with the same dialogue, group label and checklist whose
    rollout numbers increase; a trainer reuses labels across batches, so a label alone is not enough.
    """
    groups: list[list[int]] = []
    previous: GroupMember | None = None
    for index, current in enumerate(inputs):
        same = (
            previous is not None
            and (previous.dialogue_uuid, previous.group, previous.checklist)
            == (current.dialogue_uuid, current.group, current.checklist)
            and current.rollout > previous.rollout
        )
        if same:
            groups[-1].append(index)
        else:
            groups.append([index])
        previous = current
    return groups


class ScoringMember(GroupMember, Judged, Protocol):
    """What `score_all` reads of a rollout: a `Trajectory` or a `RolloutInput`."""


def score_all(
    inputs: Sequence[ScoringMember], dialogues: dict[str, Dialogue], config: RewardConfig
) -> tuple[list[RolloutScores | None], list[str]]:
    """Scores of every rollout whose dialogue is known (None otherwise), and notes on what failed."""
    results: list[RolloutScores | None] = [None] * len(inputs)
    notes: list[str] = []
    missing: set[str] = set()
    for members in rollout_groups(inputs):
        uuid = inputs[members[0]].dialogue_uuid
        dialogue = dialogues.get(uuid)
        if dialogue is None:
            missing.add(uuid)
            continue
        try:
            scored = rollout_scores(score_group(dialogue, [inputs[i] for i in members], config))
        except ValueError as exc:
            notes.append(f"not scored: {exc}")
            continue
        for i, value in zip(members, scored, strict=True):
            results[i] = value
    if missing and dialogues:
        notes.append(f"{len(missing)} dialogue(s) not among the dialogues given, e.g. {sorted(missing)[0]!r}")
    return results, notes


def satisfied_states(cells: dict[tuple[int, str], bool | None], items: Sequence[str], num_steps: int) -> np.ndarray:
    """(S + 1, C) cumulative satisfied states from raw verdicts, for display when no checklist is known."""
    states = np.zeros((num_steps + 1, len(items)), dtype=bool)
    for s in range(num_steps):
        now = np.asarray([bool(cells.get((s, item))) for item in items], dtype=bool)
        states[s + 1] = states[s] | now
    return states
