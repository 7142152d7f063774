"""Per-step figures of a run, from its rollouts: rewards, early stops, calls, tokens, dollars, pass rates.

Only what the rollouts record is counted. A quantity no rollout records stays None ("not recorded"),
never 0: a missing cost is not a free one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from cm2.report.scoring import score_all
from cm2.reward import RewardConfig
from cm2.rollout.monitors import RolloutMonitors, rollout_monitors
from cm2.schema import FOCUS_VALUES, Dialogue, Trajectory

USAGE_FIELDS = ("calls", "prompt_tokens", "completion_tokens", "cost_usd")


class UsageSum(BaseModel):
    """LLM use summed over the rollouts of a step that record it."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    rollouts: int = Field(default=0, description="Rollouts of the step that recorded it.")

    def add(self, usage: dict[str, Any]) -> None:
        self.calls += int(usage.get("calls") or 0)
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        self.cost_usd += float(usage.get("cost_usd") or 0.0)
        self.rollouts += 1


class StepStats(BaseModel):
    """One training step's rollouts, summarised."""

    step: int
    rollouts: int
    reward_mean: float | None = None
    reward_std: float | None = None
    early_stop_rate: float
    turns_reached: float
    policy_tokens: int | None = Field(default=None, description="Tokens the policy generated (loss mask).")
    context_tokens: int | None = Field(default=None, description="Prompt plus completion tokens.")
    tool_results: dict[str, int] = Field(default_factory=dict, description="Tool answers by where they came from.")
    verdicts: dict[str, int] = Field(default_factory=dict, description="Verdicts by source (llm, check, …).")
    judge: UsageSum | None = None
    simulator: UsageSum | None = None
    pass_rate: dict[str, float] = Field(
        default_factory=dict, description="Per focus: share of the reached turns' items satisfied by turn end."
    )
    monitors: RolloutMonitors | None = Field(
        default=None, description="Reward-hacking monitors of the step's rollouts (calls per turn, cut turns, …)."
    )


def judge_usage(trajectory: Trajectory) -> dict[str, Any] | None:
    """Judge calls/tokens/cost a rollout records: `metadata.usage.judge`, or `metadata.judge` from `cm2 judge`."""
    usage = trajectory.metadata.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("judge"), dict):
        return dict(usage["judge"])
    judge = trajectory.metadata.get("judge")
    if isinstance(judge, dict) and any(name in judge for name in USAGE_FIELDS):
        return judge
    return None


def simulator_usage(trajectory: Trajectory) -> dict[str, Any] | None:
    """Tool-simulator calls/tokens/cost a rollout records under `metadata.usage.simulator`."""
    usage = trajectory.metadata.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("simulator"), dict):
        return dict(usage["simulator"])
    return None


def tool_sources(trajectory: Trajectory) -> list[str]:
    return [
        str(source)
        for entry in trajectory.metadata.get("steps") or []
        if isinstance(entry, dict)
        for source in entry.get("tool_sources") or []
    ]


def item_outcomes(trajectory: Trajectory, dialogue: Dialogue) -> list[tuple[str, bool]]:
    """(focus, satisfied by the end of its turn) for every item of every reached checklist turn."""
    if not 0 <= trajectory.checklist < len(dialogue.checklists):
        return []
    checklist = dialogue.checklists[trajectory.checklist]
    held = {(v.turn, v.item) for v in trajectory.verdicts if v.satisfied}
    reached = min(len(trajectory.turns()), len(checklist))
    return [(item.focus_on, (t, item.id) in held) for t in range(reached) for item in checklist[t].items]


def rollout_rewards(
    trajectories: Sequence[Trajectory], dialogues: dict[str, Dialogue], config: RewardConfig
) -> list[float | None]:
    """The recorded trajectory reward of each rollout, else one recomputed from its verdicts (needs its dialogue);
    None for a rollout with a verdict the judge could not give (it has no score)."""
    unscored = [t.unavailable_verdicts() > 0 for t in trajectories]
    recorded = [t.rewards.get("trajectory") for t in trajectories]
    values: list[float | None] = [
        float(r) if isinstance(r, int | float) and not gap else None for r, gap in zip(recorded, unscored, strict=True)
    ]
    if all(v is not None or gap for v, gap in zip(values, unscored, strict=True)) or not dialogues:
        return values
    scored, _ = score_all(trajectories, dialogues, config)
    return [
        None if gap else v if v is not None else (s.reward if s is not None else None)
        for v, s, gap in zip(values, scored, unscored, strict=True)
    ]


def _usage(trajectories: list[Trajectory], read: Any) -> UsageSum | None:
    found = [u for u in (read(t) for t in trajectories) if u is not None]
    if not found:
        return None
    total = UsageSum()
    for usage in found:
        total.add(usage)
    return total


def step_stats(
    step: int, trajectories: list[Trajectory], rewards: list[float | None], dialogues: dict[str, Dialogue]
) -> StepStats:
    """Summarise the rollouts of one training step."""
    known = [r for r in rewards if r is not None]
    stats = StepStats(
        step=step,
        rollouts=len(trajectories),
        reward_mean=float(np.mean(known)) if known else None,
        reward_std=float(np.std(known)) if known else None,
        early_stop_rate=sum(t.stop_reason == "required_item_failed" for t in trajectories) / len(trajectories),
        turns_reached=float(np.mean([sum(m.role == "user" for m in t.messages) for t in trajectories])),
        tool_results=dict(Counter(s for t in trajectories for s in tool_sources(t))),
        verdicts=dict(Counter(v.source for t in trajectories for v in t.verdicts)),
        judge=_usage(trajectories, judge_usage),
        simulator=_usage(trajectories, simulator_usage),
        monitors=rollout_monitors(trajectories),
    )
    tokens = [t.tokens for t in trajectories if t.tokens is not None]
    if tokens:
        stats.policy_tokens = sum(sum(record.loss_mask) for record in tokens)
        stats.context_tokens = sum(len(record.prompt_ids) + len(record.completion_ids) for record in tokens)
    if dialogues:
        outcomes = [
            o
            for t in trajectories
            if t.dialogue_uuid in dialogues
            for o in item_outcomes(t, dialogues[t.dialogue_uuid])
        ]
        for focus in FOCUS_VALUES:
            mine = [ok for f, ok in outcomes if f == focus]
            if mine:
                stats.pass_rate[focus] = sum(mine) / len(mine)
    return stats


def run_series(
    trajectories: Sequence[Trajectory], steps: Sequence[int], dialogues: dict[str, Dialogue], config: RewardConfig
) -> list[StepStats]:
    """One `StepStats` per training step that has rollouts, in step order."""
    rewards = rollout_rewards(trajectories, dialogues, config)
    by_step: dict[int, list[int]] = {}
    for index, step in enumerate(steps):
        by_step.setdefault(step, []).append(index)
    return [
        step_stats(step, [trajectories[i] for i in members], [rewards[i] for i in members], dialogues)
        for step, members in sorted(by_step.items())
    ]
