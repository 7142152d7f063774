"""Reward-hacking monitors: how a batch of rollouts behaves, whatever it earned.

A policy that learns to game a checklist shows it here before the reward does: more calls per turn, turns
running into the step limit instead of ending with a reply, failed or malformed calls, fewer turns reached.
Computed from the trajectories alone (messages and what the episode runner recorded), so the trainer logs
them every step and the report recomputes them from `trajectories.jsonl`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from cm2.judge.turn_checks import malformed_outputs
from cm2.schema import Dialogue, Trajectory
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
            "turns_reached",
            "turns_reached_share",
        )
        return {f"{prefix}{name}": float(value) for name in names if (value := getattr(self, name)) is not None}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _cut_turns(trajectory: Trajectory) -> int:
    """Turns the episode cut at the step limit: those it moved past (`turns_cut_at_step_limit`) and the last
    one when the episode itself stopped there."""
    moved_on = int(trajectory.metadata.get("turns_cut_at_step_limit") or 0)
    return moved_on + (trajectory.stop_reason == "max_steps")


def rollout_monitors(trajectories: Sequence[Trajectory]) -> RolloutMonitors:
    """The monitors of a batch of rollouts (pure: reads the trajectories only)."""
    turns = calls = errors = malformed = replies = cut = 0
    reference_turns = 0
    for trajectory in trajectories:
        view = Dialogue(uuid=trajectory.dialogue_uuid, messages=trajectory.messages)
        reached = view.turns()
        turns += len(reached)
        cut += _cut_turns(trajectory)
        reference_turns += int(trajectory.metadata.get("reference_turns") or 0)
        for turn in reached:
            replies += bool(turn.steps) and turn.steps[-1].ends_turn
            for step in turn.steps:
                bad_outputs = malformed_outputs(step)
                calls += len(step.calls)
                malformed += bad_outputs
                errors += sum(1 for m in step.tool_messages if is_tool_error(m.content)) - bad_outputs
    every = len(trajectories)
    recorded_reference = reference_turns and all(t.metadata.get("reference_turns") for t in trajectories)
    return RolloutMonitors(
        rollouts=every,
        turns=turns,
        calls_per_turn=calls / turns if turns else None,
        step_limit_share=_share(cut, turns),
        final_reply_share=_share(replies, turns),
        error_call_share=_share(errors, calls),
        malformed_share=_share(malformed, calls + malformed),
        turns_reached=turns / every if every else None,
        turns_reached_share=turns / reference_turns if recorded_reference else None,
    )
