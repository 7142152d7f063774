"""Numbers of the held-out checklist evaluation, from judged trajectories (pure; no I/O).

Definitions (CM2's rewards through `cm2.scoring`, under the run's reward settings):
- trajectory score: R = (1/L) Σ_t R_t, L = turns of the reference checklist, so a rollout stopped early
  forfeits the turns it never reached;
- turn score: R_t averaged over the turns rollouts reached;
- an item *passes* when it earns its flip reward (judged satisfied with its dependencies met); pass rates
  per focus are over every item of the reference checklist (items of unreached turns do not pass);
- step statistics: flips per assistant step, share of steps that flip at least one item, share of
  satisfied items that earned nothing because a dependency was still missing (out of order).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cm2.reward import RewardConfig
from cm2.schema import FOCUS_VALUES, Dialogue, Trajectory
from cm2.scoring import score_trajectory

FOCUS_NAMES = {
    "assistant.tool_calls": "tool_calls",
    "tool.content": "tool_content",
    "assistant.content.user_visible_reply": "reply",
    "assistant.content.thinking": "thinking",
}


@dataclass
class RolloutScore:
    """What one judged rollout scored."""

    reward: float
    turn_rewards: list[float]
    stop_reason: str
    steps: int
    steps_with_flip: int
    flips: int
    satisfied: int
    out_of_order: int
    unknown_turns: int
    items: Counter[str] = field(default_factory=Counter)
    """Reference items per focus."""
    passed: Counter[str] = field(default_factory=Counter)
    """Items that earned their flip reward, per focus."""


def rollout_metrics(dialogue: Dialogue, trajectory: Trajectory, config: RewardConfig) -> RolloutScore:
    """What one rollout scored under the run's reward settings (`cm2.scoring`); errors name the dialogue,
    checklist and rollout."""
    scored = score_trajectory(dialogue, trajectory, config)
    checklist = dialogue.checklists[trajectory.checklist]
    turns = scored.checklists[0]
    score = RolloutScore(
        reward=scored.reward(config.mode),
        turn_rewards=scored.turn_rewards(config.mode),
        stop_reason=str(trajectory.stop_reason),
        steps=sum(scored.steps_per_turn),
        steps_with_flip=sum(int((t.rewards > 0).any(axis=1).sum()) for t in turns),
        flips=sum(int((t.rewards > 0).sum()) for t in turns),
        satisfied=sum(int(t.satisfied.sum()) for t in turns),
        out_of_order=sum(int((t.satisfied & ~t.flipped).sum()) for t in turns),
        unknown_turns=sum(t.unknown for t in turns),
    )
    for t, turn_checklist in enumerate(checklist):
        earned = turns[t].flipped if t < len(turns) else None
        for c, item in enumerate(turn_checklist.items):
            score.items[item.focus_on] += 1
            if earned is not None and earned[c]:
                score.passed[item.focus_on] += 1
    return score


@dataclass
class ChecklistSummary:
    """Aggregates over rollouts."""

    trajectory: float
    turn: float
    focus: dict[str, tuple[float, int]]
    """Pass rate and number of reference items, per focus (short name)."""
    metrics: dict[str, float]
    n: int


def summarize_scores(scores: list[RolloutScore]) -> ChecklistSummary:
    """Means over rollouts (each rollout counts once; turn score over every reached turn)."""
    n = len(scores)
    turn_values = [r for s in scores for r in s.turn_rewards]
    items = sum((s.items for s in scores), Counter())
    passed = sum((s.passed for s in scores), Counter())
    focus = {FOCUS_NAMES[f]: (passed[f] / items[f], items[f]) for f in FOCUS_VALUES if items[f]}
    steps = sum(s.steps for s in scores)
    satisfied = sum(s.satisfied for s in scores)
    stops = Counter(s.stop_reason for s in scores)
    metrics = {
        "stopped_early_share": (n - stops["completed"]) / n if n else 0.0,
        "steps_per_rollout": steps / n if n else 0.0,
        "flips_per_step": sum(s.flips for s in scores) / steps if steps else 0.0,
        "steps_with_flip_share": sum(s.steps_with_flip for s in scores) / steps if steps else 0.0,
        "out_of_order_share": sum(s.out_of_order for s in scores) / satisfied if satisfied else 0.0,
        "turns_with_unknown_verdicts": float(sum(s.unknown_turns for s in scores)),
    }
    metrics |= {f"stop:{reason}": count / n for reason, count in sorted(stops.items())}
    return ChecklistSummary(
        trajectory=sum(s.reward for s in scores) / n if n else 0.0,
        turn=sum(turn_values) / len(turn_values) if turn_values else 0.0,
        focus=focus,
        metrics=metrics,
        n=n,
    )
