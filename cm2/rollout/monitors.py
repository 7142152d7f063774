"""Reward-hacking monitors: how a batch of rollouts behaves, whatever it earned.

A policy that learns to game a checklist shows it here before the reward does: more calls per turn, turns
running into the step limit instead of ending with a reply, failed or malformed calls, fewer turns reached. One
figure is about skill rather than gaming: how often a turn calls again after a failed call (a model fine-tuned on
reference dialogues alone almost never does: run 13 of `results/learning/`).
Computed from the trajectories alone (messages and what the episode runner recorded), so the trainer logs
them every step and the report recomputes them from `trajectories.jsonl`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from cm2.judge.turn_checks import malformed_outputs
from cm2.schema import Trajectory
from cm2.tools import is_tool_error


class RolloutMonitors(BaseModel):
    """Behaviour of a batch of rollouts. Shares are None when there is nothing to divide by."""

    rollouts: int = Field(description="Rollouts in the batch.")
    turns: int = Field(description="Turns reached, summed over the rollouts.")
    calls_per_turn: float | None = Field(description="Tool calls per reached turn.")
    step_limit_share: float | None = Field(description="Share of reached turns cut at the step limit.")
    final_reply_share: float | None = Field(description="Share of reached turns that ended with a visible reply.")
    error_call_share: float | None = Field(description="Share of tool calls answered with an error object.")
    malformed_share: float | None = Field(
        description="Share of tool-call attempts (calls plus outputs whose calls did not parse) that were malformed."
    )
    call_after_error_share: float | None = Field(
        default=None,
        description="Share of steps with a failed call after which the turn made another call (it went on instead "
        "of ending there).",
    )
    turns_reached: float | None = Field(description="Turns reached per rollout.")
    turns_reached_share: float | None = Field(
        default=None, description="Turns reached as a share of the reference dialogue's turns (when recorded)."
    )

    def as_metrics(self, prefix: str = "cm2/") -> dict[str, float]:
        """The defined figures under `prefix` (for a trainer's log)."""
        names = (
            "calls_per_turn",
            "step_limit_share",
            "final_reply_share",
            "error_call_share",
            "malformed_share",
            "call_after_error_share",
            "turns_reached",
            "turns_reached_share",
        )
        return {f"{prefix}{name}": float(value) for name in names if (value := getattr(self, name)) is not None}


class MonitorCounts(BaseModel):
    """What one rollout contributes to the monitors (counts, so batches pool exactly)."""

    turns: int = Field(default=0, ge=0, description="Turns reached.")
    calls: int = Field(default=0, ge=0, description="Tool calls made.")
    errors: int = Field(default=0, ge=0, description="Tool calls answered with an error object.")
    malformed: int = Field(default=0, ge=0, description="Outputs whose tool calls did not parse.")
    replies: int = Field(default=0, ge=0, description="Turns that ended with a visible reply.")
    cut: int = Field(default=0, ge=0, description="Turns cut at the step limit.")
    failed_steps: int = Field(default=0, ge=0, description="Steps with a call answered with an error object.")
    called_after: int = Field(default=0, ge=0, description="Of those, steps the turn followed with another call.")
    reference_turns: int | None = Field(default=None, description="Turns of the reference dialogue, if recorded.")


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _cut_turns(trajectory: Trajectory) -> int:
    """Turns the episode cut at the step limit: those it moved past (`turns_cut_at_step_limit`) and the last
    one when the episode itself stopped there."""
    moved_on = int(trajectory.metadata.get("turns_cut_at_step_limit") or 0)
    return moved_on + (trajectory.stop_reason == "max_steps")


def monitor_counts(trajectory: Trajectory) -> MonitorCounts:
    """The counts of one rollout, from its messages and what the episode runner recorded."""
    counts = MonitorCounts(cut=_cut_turns(trajectory), reference_turns=trajectory.metadata.get("reference_turns"))
    for turn in trajectory.turns():
        counts.turns += 1
        counts.replies += bool(turn.steps) and turn.steps[-1].ends_turn
        for index, step in enumerate(turn.steps):
            bad_outputs = malformed_outputs(step)
            errors = sum(1 for m in step.tool_messages if is_tool_error(m.content)) - bad_outputs
            counts.calls += len(step.calls)
            counts.malformed += bad_outputs
            counts.errors += errors
            if errors:
                counts.failed_steps += 1
                counts.called_after += any(later.calls for later in turn.steps[index + 1 :])
    return counts


def monitors_from_counts(counts: Sequence[MonitorCounts]) -> RolloutMonitors:
    """Pool the counts of a batch of rollouts into the monitors."""
    turns = sum(c.turns for c in counts)
    calls = sum(c.calls for c in counts)
    malformed = sum(c.malformed for c in counts)
    reference = [c.reference_turns for c in counts]
    return RolloutMonitors(
        rollouts=len(counts),
        turns=turns,
        calls_per_turn=_share(calls, turns),
        step_limit_share=_share(sum(c.cut for c in counts), turns),
        final_reply_share=_share(sum(c.replies for c in counts), turns),
        error_call_share=_share(sum(c.errors for c in counts), calls),
        malformed_share=_share(malformed, calls + malformed),
        call_after_error_share=_share(sum(c.called_after for c in counts), sum(c.failed_steps for c in counts)),
        turns_reached=_share(turns, len(counts)),
        turns_reached_share=_share(turns, sum(r for r in reference if r)) if reference and all(reference) else None,
    )


def rollout_monitors(trajectories: Sequence[Trajectory]) -> RolloutMonitors:
    """The monitors of a batch of rollouts (pure: reads the trajectories only)."""
    return monitors_from_counts([monitor_counts(t) for t in trajectories])
