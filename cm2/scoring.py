"""The one route from a rollout's verdicts to numbers: checklist specs, verdict rows, then `cm2.reward`.

Training, evaluation, the report, the VeRL plugin and `cm2 judge` all score through here::

    scored = score_trajectory(dialogue, trajectory, config)   # one rollout: a cm2.reward.ScoredRollout
    scores = score_group(dialogue, trajectories, config)      # one GRPO group: a cm2.reward.GroupScores
    members = rollout_scores(scores)                          # each rollout's numbers inside its group

A rollout is scored on the checklist turns it reached (turns past the checklist's end are not scored);
errors name the dialogue, checklist and rollout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cm2.reward import (
    GroupScores,
    RewardConfig,
    ScoredRollout,
    TurnFlips,
    TurnSpec,
    VerdictRows,
    checklist_specs,
    compute_group,
    score_rollout,
    verdict_rows,
)
from cm2.schema import Dialogue, Verdict, count_unavailable


class Judged(Protocol):
    """What scoring reads of a rollout: a `Trajectory`, or a record of its verdicts and step counts."""

    @property
    def checklist(self) -> int: ...
    @property
    def rollout(self) -> int: ...
    @property
    def verdicts(self) -> list[Verdict]: ...
    def steps_per_turn(self) -> list[int]: ...


def checklist_of(dialogue: Dialogue, checklist: int) -> list[TurnSpec]:
    """The turn specs of checklist `checklist` of `dialogue`."""
    if not 0 <= checklist < len(dialogue.checklists):
        raise ValueError(
            f"dialogue {dialogue.uuid}: checklist {checklist} does not exist (it has {len(dialogue.checklists)})"
        )
    try:
        return checklist_specs(dialogue.checklists[checklist])
    except ValueError as exc:
        raise ValueError(f"dialogue {dialogue.uuid}, checklist {checklist}: {exc}") from exc


def rollout_rows(specs: Sequence[TurnSpec], rollout: Judged) -> list[list[list[bool | None]]]:
    """Verdict rows `[t][s][c]` of the checklist turns `rollout` reached."""
    return verdict_rows(rollout.verdicts, specs, rollout.steps_per_turn()[: len(specs)])


def score_rows(specs: Sequence[TurnSpec], rows: Sequence[VerdictRows], config: RewardConfig) -> ScoredRollout:
    """One rollout scored from its verdict rows under one checklist (for callers that carry rows, not verdicts)."""
    return score_rollout([specs], [rows], eta=config.eta, unknown=config.unknown)


def score_trajectory(
    dialogue: Dialogue, trajectory: Judged, config: RewardConfig, *, drop_unavailable: bool = False
) -> ScoredRollout:
    """One rollout scored against the checklist it was run with.

    With `drop_unavailable` (the trainer's rule), a rollout with a verdict the judge could not give is
    invalid whatever `config.unknown` says: no advantage, left out of its group's statistics (its reward is
    still computed, for the logs).
    """
    specs = checklist_of(dialogue, trajectory.checklist)
    try:
        scored = score_rows(specs, rollout_rows(specs, trajectory), config)
    except ValueError as exc:
        where = f"dialogue {dialogue.uuid}, checklist {trajectory.checklist}, rollout {trajectory.rollout}"
        raise ValueError(f"{where}: {exc}") from exc
    if drop_unavailable and count_unavailable(trajectory.verdicts):
        scored = dataclasses.replace(scored, valid=False)
    return scored


def score_group(
    dialogue: Dialogue, trajectories: Sequence[Judged], config: RewardConfig, *, drop_unavailable: bool = False
) -> GroupScores:
    """Rewards and advantages, at the configured level, of one group: rollouts of `dialogue` judged against
    one of its checklists (see `score_trajectory` for `drop_unavailable`)."""
    checklists = sorted({t.checklist for t in trajectories})
    if len(checklists) != 1:
        raise ValueError(f"dialogue {dialogue.uuid}: the rollouts of a group must use one checklist, got {checklists}")
    scored = [score_trajectory(dialogue, t, config, drop_unavailable=drop_unavailable) for t in trajectories]
    return compute_group(scored, config)


@dataclass(frozen=True)
class RolloutScores:
    """One rollout's numbers inside its group: what `cm2 judge` writes and the report shows."""

    scored: ScoredRollout
    reward: float
    turn_rewards: list[float]
    valid: bool
    """False when the rollout was dropped (unknown verdicts): it gets no advantage."""
    advantage: float | None
    """The rollout's advantage at trajectory level (None at turn or step level)."""
    advantages: list[list[float]]
    """Per reached turn and step: the advantage the step's tokens receive at the configured level."""

    @property
    def flips(self) -> list[TurnFlips]:
        """Per reached checklist turn: flip rewards, satisfied states, eligibility."""
        return list(self.scored.checklists[0])

    @property
    def step_rewards(self) -> list[list[float]]:
        """Per reached turn and step: Σ_c w[c]·r[s, c], what the step earned (turn-reward units)."""
        return [[float(v) for v in turn.rewards @ turn.spec.weight_array] for turn in self.flips]


def rollout_scores(scores: GroupScores) -> list[RolloutScores]:
    """Each rollout's numbers of a scored group, in group order."""
    return [
        RolloutScores(
            scored=scored,
            reward=float(scores.rewards[i]),
            turn_rewards=[float(r) for r in scores.turn_rewards[i]],
            valid=bool(scores.valid[i]),
            advantage=None if scores.trajectory is None else float(scores.trajectory[i]),
            advantages=[[float(a) for a in steps] for steps in scores.advantages[i]],
        )
        for i, scored in enumerate(scores.rollouts)
    ]
