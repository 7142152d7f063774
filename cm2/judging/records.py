"""What `cm2 judge` writes: one record per judged rollout, its verdicts with the rewards and advantages
`cm2.scoring` gives its group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, Field

from cm2.judge.result import JudgeUsage, TrajectoryJudgement
from cm2.reward import Level, RewardConfig
from cm2.schema import Dialogue, StopReason, Trajectory, Verdict
from cm2.scoring import rollout_scores, score_group


class JudgedRecord(BaseModel):
    """One judged trajectory: what `cm2 judge` writes, one JSON line each."""

    dialogue_uuid: str
    group: str | None = None
    rollout: int
    checklist: int
    stop_reason: StopReason | None = None
    verdicts: Annotated[list[Verdict], Field(description="Per (turn, assistant step, item), in that order.")]
    turn_rewards: Annotated[list[float], Field(description="R_t of each reached turn.")]
    reward: Annotated[float, Field(description="Trajectory reward R = (1/L) Σ_t R_t, L = reference turns.")]
    valid: Annotated[bool, Field(description="False when an unknown verdict dropped the rollout (unknown='drop').")]
    level: Level
    advantage: Annotated[float | None, Field(description="The rollout's advantage at trajectory level.")] = None
    advantages: Annotated[
        list[list[float]], Field(description="Advantage of each assistant step, per reached turn, at `level`.")
    ]
    judge: JudgeUsage


IDENTITY = {"dialogue_uuid", "group", "rollout", "checklist", "stop_reason"}
"""What a record copies from its trajectory."""
SCORES = ("turn_rewards", "reward", "valid", "advantage", "advantages")
"""What a record copies from its `cm2.scoring.RolloutScores`."""


def judged_records(
    dialogue: Dialogue,
    trajectories: Sequence[Trajectory],
    judgements: Sequence[TrajectoryJudgement],
    config: RewardConfig,
) -> list[JudgedRecord]:
    """The records of one group (rollouts of one dialogue judged against the same checklist), scored by
    `cm2.scoring` from the judgements' verdicts."""
    judged = [t.model_copy(update={"verdicts": j.verdicts}) for t, j in zip(trajectories, judgements, strict=True)]
    members = rollout_scores(score_group(dialogue, judged, config))
    return [
        JudgedRecord(
            **trajectory.model_dump(include=IDENTITY),
            **{name: getattr(member, name) for name in SCORES},
            verdicts=judgement.verdicts,
            level=config.level,
            judge=judgement.usage,
        )
        for trajectory, judgement, member in zip(trajectories, judgements, members, strict=True)
    ]
