"""Numbers of the held-out checklist evaluation, from judged trajectories (pure; no I/O).

Definitions (CM2's rewards, `cm2.reward`, paper mode):
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

from cm2.reward import checklist_specs, score_rollout, verdict_rows
from cm2.schema import FOCUS_VALUES, Dialogue, Trajectory

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


def score_trajectory(dialogue: Dialogue, trajectory: Trajectory) -> RolloutScore:
    """Score one rollout against the checklist it was run with; errors name the dialogue and rollout."""
    k = trajectory.checklist
    where = f"dialogue {dialogue.uuid}, checklist {k}, rollout {trajectory.rollout}"
    if not 0 <= k < len(dialogue.checklists):
        raise ValueError(f"{where}: the dialogue has {len(dialogue.checklists)} checklists")
    checklist = dialogue.checklists[k]
    specs = checklist_specs(checklist)
    view = Dialogue(uuid=trajectory.dialogue_uuid, messages=trajectory.messages)
    counts = [len(turn.steps) for turn in view.turns()][: len(specs)]
    try:
        rows = verdict_rows(trajectory.verdicts, specs, counts)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    scored = score_rollout([specs], [rows])
    turns = scored.checklists[0]
    score = RolloutScore(
        reward=scored.reward(),
        turn_rewards=scored.turn_rewards(),
        stop_reason=str(trajectory.stop_reason),
        steps=sum(counts),
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
