"""Flips, per-step rewards and advantages of recorded rollouts, recomputed with `cm2.reward`.

A run's trajectories carry their trajectory and turn rewards but not what each step earned or the
advantage each step was trained with; those follow from the verdicts, the checklist and the rollout's
group, exactly as the trainer computed them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cm2.reward import RewardConfig, TurnFlips, checklist_specs, compute_group, score_rollout, verdict_rows
from cm2.schema import Dialogue, Message, Verdict


@dataclass(frozen=True)
class RolloutInput:
    """What scoring needs of one rollout: its verdicts and how many assistant steps each reached turn has."""

    dialogue_uuid: str
    group: str | None
    rollout: int
    checklist: int
    verdicts: list[Verdict]
    steps_per_turn: list[int]


@dataclass(frozen=True)
class Scored:
    """One rollout's flips, rewards and advantages under the checklist it was judged against."""

    flips: list[TurnFlips]
    """Per reached checklist turn: flip rewards, satisfied states, eligibility."""
    reward: float
    turn_rewards: list[float]
    step_rewards: list[list[float]]
    """Per reached turn and step: Σ_c w[c]·r[s, c], what the step earned (turn-reward units)."""
    advantages: list[list[float]]
    """Per reached turn and step: the advantage the step's tokens received at the configured level."""
    advantage: float | None
    """The rollout's advantage at trajectory level (None at turn or step level)."""
    valid: bool


def steps_per_turn(messages: Sequence[Message]) -> list[int]:
    """Assistant steps of each turn of a message list (turns start at user messages)."""
    view = Dialogue(uuid="-", messages=list(messages))
    return [len(turn.steps) for turn in view.turns()]


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


def score_group(dialogue: Dialogue, group: Sequence[RolloutInput], config: RewardConfig) -> list[Scored]:
    """Score the rollouts of one group against their checklist; errors name the dialogue and rollout."""
    k = group[0].checklist
    if not 0 <= k < len(dialogue.checklists):
        raise ValueError(f"dialogue {dialogue.uuid}: checklist {k} does not exist ({len(dialogue.checklists)} given)")
    specs = checklist_specs(dialogue.checklists[k])
    scored = []
    for rollout in group:
        counts = rollout.steps_per_turn[: len(specs)]
        try:
            rows = verdict_rows(rollout.verdicts, specs, counts)
            scored.append(score_rollout([specs], [rows], eta=config.eta, unknown=config.unknown))
        except ValueError as exc:
            raise ValueError(f"dialogue {dialogue.uuid}, rollout {rollout.rollout}: {exc}") from exc
    scores = compute_group(scored, config)
    out = []
    for i, one in enumerate(scored):
        flips = list(one.checklists[0])
        out.append(
            Scored(
                flips=flips,
                reward=float(scores.rewards[i]),
                turn_rewards=[float(r) for r in scores.turn_rewards[i]],
                step_rewards=[[float(v) for v in turn.rewards @ turn.spec.weight_array] for turn in flips],
                advantages=[[float(a) for a in steps] for steps in scores.advantages[i]],
                advantage=None if scores.trajectory is None else float(scores.trajectory[i]),
                valid=bool(scores.valid[i]),
            )
        )
    return out


def score_all(
    inputs: Sequence[RolloutInput], dialogues: dict[str, Dialogue], config: RewardConfig
) -> tuple[list[Scored | None], list[str]]:
    """Scores of every rollout whose dialogue is known (None otherwise), and notes on what failed."""
    results: list[Scored | None] = [None] * len(inputs)
    notes: list[str] = []
    missing: set[str] = set()
    for members in rollout_groups(inputs):
        uuid = inputs[members[0]].dialogue_uuid
        dialogue = dialogues.get(uuid)
        if dialogue is None:
            missing.add(uuid)
            continue
        try:
            scored = score_group(dialogue, [inputs[i] for i in members], config)
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
