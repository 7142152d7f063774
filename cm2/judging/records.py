"""From the verdicts of a group of rollouts to their rewards and advantages (math in `cm2.reward`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, Field

from cm2.judge.result import JudgeUsage, TrajectoryJudgement
from cm2.judge.transcript import trajectory_turns
from cm2.reward import Level, RewardConfig, checklist_specs, compute_group, score_rollouts, verdict_rows
from cm2.schema import Dialogue, StopReason, Trajectory, Verdict


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


def score_group(
    dialogue: Dialogue,
    trajectories: Sequence[Trajectory],
    judgements: Sequence[TrajectoryJudgement],
    config: RewardConfig,
) -> list[JudgedRecord]:
    """Rewards and advantages of one group (rollouts of one dialogue judged against the same checklist)."""
    indices = {t.checklist for t in trajectories}
    if len(indices) != 1:
        raise ValueError(
            f"dialogue {dialogue.uuid}: the rollouts of a group must use one checklist, got {sorted(indices)}"
        )
    k = indices.pop()
    specs = checklist_specs(dialogue.checklists[k])
    rows = []
    for trajectory, judgement in zip(trajectories, judgements, strict=True):
        turns = trajectory_turns(trajectory)[: len(specs)]
        try:
            rows.append([verdict_rows(judgement.verdicts, specs, [len(turn.steps) for turn in turns])])
        except ValueError as exc:
            raise ValueError(f"dialogue {dialogue.uuid}, rollout {trajectory.rollout}: {exc}") from exc
    scores = compute_group(score_rollouts([specs], rows, config), config)
    return [
        JudgedRecord(
            dialogue_uuid=trajectory.dialogue_uuid,
            group=trajectory.group,
            rollout=trajectory.rollout,
            checklist=k,
            stop_reason=trajectory.stop_reason,
            verdicts=judgement.verdicts,
            turn_rewards=scores.turn_rewards[i],
            reward=float(scores.rewards[i]),
            valid=bool(scores.valid[i]),
            level=config.level,
            advantage=None if scores.trajectory is None else float(scores.trajectory[i]),
            advantages=[[float(a) for a in steps] for steps in scores.advantages[i]],
            judge=judgement.usage,
        )
        for i, (trajectory, judgement) in enumerate(zip(trajectories, judgements, strict=True))
    ]
