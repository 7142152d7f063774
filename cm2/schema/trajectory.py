"""Trajectories: what a policy did in one episode, and how each step was judged."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cm2.schema.dialogue import Turn, split_turns
from cm2.schema.messages import Message, _Record
from cm2.schema.tools import ToolSpec

VerdictSource = Literal["llm", "check", "tool_error", "carried", "unavailable"]


class Verdict(_Record):
    """Whether checklist item `item` of turn `turn` holds after assistant step `step`.

    `satisfied` is None when no verdict could be obtained (the caller decides what that means).
    """

    item: str
    turn: int
    step: int
    satisfied: bool | None
    source: VerdictSource = "llm"
    votes: list[bool | None] | None = None
    reason: str | None = None


class StepSpan(_Record):
    """Token span `[start, end)` of one assistant step inside the trajectory's completion tokens."""

    turn: int
    step: int
    start: int
    end: int


class TokenRecord(_Record):
    """The episode as tokens: the prompt, then everything after it with a 0/1 loss mask."""

    prompt_ids: list[int]
    completion_ids: list[int]
    loss_mask: list[int]
    logprobs: list[float] | None = None


StopReason = Literal[
    "completed", "required_item_failed", "judge_unavailable", "max_turns", "max_steps", "max_tokens", "error"
]
"""Why an episode ended; `judge_unavailable`: early stop hinged on a verdict the judge could not give."""


class Trajectory(_Record):
    """One rollout of a policy on a reference dialogue."""

    dialogue_uuid: str
    rollout: int = 0
    group: str | None = None
    checklist: int = 0
    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    step_spans: list[StepSpan] = Field(default_factory=list)
    tokens: TokenRecord | None = None
    verdicts: list[Verdict] = Field(default_factory=list)
    stop_reason: StopReason | None = None
    rewards: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def turns(self) -> list[Turn]:
        """The turns the rollout played, split at user messages like a reference dialogue's."""
        return split_turns(self.messages)

    def steps_per_turn(self) -> list[int]:
        """Assistant steps of each turn the rollout played."""
        return [len(turn.steps) for turn in self.turns()]

    def unavailable_verdicts(self) -> int:
        """Verdicts the judge could not give (satisfied None): such a rollout has no score yet."""
        return count_unavailable(self.verdicts)


def count_unavailable(verdicts: list[Verdict]) -> int:
    """How many of `verdicts` could not be obtained (satisfied None)."""
    return sum(1 for verdict in verdicts if verdict.satisfied is None)
