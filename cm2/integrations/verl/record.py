"""What one rollout hands the trainer besides its tokens: the record in `extra_fields["cm2"]`.

VeRL's advantage estimators see only token tensors, so everything a group-level advantage needs
(checklist specs, verdict rows, step spans, validity) travels with the rollout as a plain,
JSON-friendly dict and is turned back into cm2.reward objects in the trainer process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cm2.reward import RewardConfig, ScoredRollout, TurnSpec
from cm2.rollout.monitors import MonitorCounts, monitor_counts
from cm2.schema import Dialogue, Trajectory
from cm2.scoring import checklist_of, rollout_rows, score_rows, score_trajectory

Span = tuple[int, int, int, int]
"""(turn, step, start, end) of one assistant step inside the response tokens."""


class RolloutRecord(BaseModel):
    """One rollout as the checklist advantage estimator needs it."""

    model_config = ConfigDict(extra="forbid")

    dialogue: str = Field(description="Uuid of the reference dialogue.")
    checklist: int = Field(ge=0, description="Which checklist of the dialogue scored the rollout.")
    specs: list[TurnSpec] = Field(description="The checklist, one spec per reference turn.")
    verdicts: list[list[list[bool | None]]] = Field(description="Verdict rows [t][s][c] of the reached turns.")
    spans: list[Span] = Field(description="Token spans of the assistant steps of the scored turns.")
    stop_reason: str = "completed"
    reward: float = Field(description="Trajectory reward R under the run's reward settings.")
    reward_by_turn: list[float] = Field(description="Each reached turn's share of R (sums to R).")
    valid: bool = Field(default=True, description="False when the unknown-verdict policy dropped the rollout.")
    tool_errors: int = Field(default=0, ge=0, description="Tool calls answered with an error object.")
    unavailable_verdicts: int = Field(default=0, ge=0, description="Verdicts the judge could not give.")
    monitors: MonitorCounts | None = Field(default=None, description="Counts behind the reward-hacking monitors.")

    @property
    def turns_reached(self) -> int:
        return len(self.verdicts)

    def scored(self, config: RewardConfig, specs: list[TurnSpec] | None = None) -> ScoredRollout:
        """The rollout scored from its verdict rows, as `cm2.scoring.score_trajectory` scores it from its verdicts.

        Pass the group's shared `specs` (equal to this record's) when scoring a group: cm2.reward checks
        that a group's rollouts share one checklist, as the embedded trainer's rollouts do.
        """
        return score_rows(specs or self.specs, self.verdicts, config)

    def checklist_key(self) -> tuple[str, int, str]:
        """Identifies the checklist the rollout was scored against (dialogue, index and content)."""
        return self.dialogue, self.checklist, json.dumps([s.model_dump(mode="json") for s in self.specs])


def record_from_trajectory(trajectory: Trajectory, dialogue: Dialogue, config: RewardConfig) -> RolloutRecord:
    """Score a finished episode against its checklist and keep what the trainer needs."""
    k = trajectory.checklist
    scored = score_trajectory(dialogue, trajectory, config)
    specs = checklist_of(dialogue, k)
    rows = rollout_rows(specs, trajectory)
    sources = [source for step in trajectory.metadata.get("steps", []) for source in step.get("tool_sources", [])]
    return RolloutRecord(
        dialogue=dialogue.uuid,
        checklist=k,
        specs=specs,
        verdicts=[[list(row) for row in turn] for turn in rows],
        spans=[(s.turn, s.step, s.start, s.end) for s in trajectory.step_spans if s.turn < len(specs)],
        stop_reason=trajectory.stop_reason or "completed",
        reward=scored.reward(config.mode),
        reward_by_turn=scored.reward_by_turn(config.mode),
        valid=scored.valid,
        tool_errors=sum(1 for source in sources if source == "error"),
        unavailable_verdicts=trajectory.unavailable_verdicts(),
        monitors=monitor_counts(trajectory),
    )


def turn_end_rewards(rewards: Sequence[float], spans: Sequence[Span], mask: Sequence[int]) -> np.ndarray:
    """`rewards[t]` on the last trained token of turn t; the values always sum to `sum(rewards)`.

    Unlike `cm2.reward.place_turn_rewards`, a turn without a trained token (a step that produced no
    token, or a turn cut by the context limit) does not raise: its reward goes on the last trained
    token of the response (the last token when nothing was trained), so VeRL's score logs stay exact.
    """
    keep = np.asarray(mask, dtype=bool).reshape(-1)
    if keep.size == 0:
        raise ValueError("an empty response cannot carry rewards")
    last: dict[int, int] = {}
    for turn, _, start, end in spans:
        trained = np.flatnonzero(keep[start:end])
        if trained.size:
            last[turn] = max(last.get(turn, -1), start + int(trained[-1]))
    trained_all = np.flatnonzero(keep)
    fallback = int(trained_all[-1]) if trained_all.size else keep.size - 1
    out = np.zeros(keep.size, dtype=float)
    for turn, reward in enumerate(rewards):
        out[last.get(turn, fallback)] += reward
    return out
