"""What judging one trajectory produces: its verdicts and what they cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, Field

from cm2.judge.config import JudgeMode
from cm2.llm import ChatResponse
from cm2.schema import Trajectory, Verdict, VerdictSource


@dataclass(frozen=True)
class ItemDecision:
    """One item's outcome at one step, before it becomes a `Verdict`."""

    satisfied: bool | None
    source: VerdictSource
    votes: list[bool | None] | None = None
    reason: str | None = None


class JudgeUsage(BaseModel):
    """Calls, tokens and money spent judging one trajectory, and how its verdicts were obtained."""

    calls: Annotated[int, Field(description="Judge model calls made (retries and votes included).")] = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    llm: Annotated[int, Field(description="Verdicts decided by the judge model in this run's calls.")] = 0
    cache_hits: Annotated[
        int, Field(description="Verdicts taken from the cache or from an identical call in flight.")
    ] = 0
    check: Annotated[int, Field(description="Verdicts decided in code from a tool-call check.")] = 0
    tool_error: Annotated[int, Field(description="Verdicts set false because the step's tool call failed.")] = 0
    carried: Annotated[int, Field(description="Verdicts of items already satisfied earlier in the turn.")] = 0
    unavailable: Annotated[int, Field(description="Verdicts that could not be obtained (satisfied=None).")] = 0

    def add_response(self, response: ChatResponse) -> None:
        """Count one call's tokens and cost."""
        self.calls += 1
        self.prompt_tokens += response.usage.prompt_tokens
        self.completion_tokens += response.usage.completion_tokens
        self.cost_usd += response.usage.cost_usd

    def absorb(self, other: JudgeUsage) -> None:
        """Add `other`'s counts to these."""
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def count(self, decision: ItemDecision, cached: bool) -> None:
        """Count one verdict by where it came from."""
        if decision.source == "unavailable":
            self.unavailable += 1
        elif cached:
            self.cache_hits += 1
        elif decision.source == "llm":
            self.llm += 1
        elif decision.source == "check":
            self.check += 1
        elif decision.source == "tool_error":
            self.tool_error += 1
        else:
            self.carried += 1


class TrajectoryJudgement(BaseModel):
    """The verdicts of one trajectory, in (turn, step, checklist item) order.

    `step` in each verdict is the assistant step's index inside its turn (0-based): the first assistant
    message after the user message is step 0, whatever tool messages follow it.
    """

    dialogue_uuid: str
    rollout: int
    group: str | None = None
    checklist: int = 0
    mode: JudgeMode
    verdicts: list[Verdict] = Field(default_factory=list)
    usage: JudgeUsage = Field(default_factory=JudgeUsage)

    def apply(self, trajectory: Trajectory) -> Trajectory:
        """A copy of `trajectory` carrying these verdicts and, under `metadata["judge"]`, the usage."""
        metadata = {**trajectory.metadata, "judge": {"mode": self.mode, **self.usage.model_dump()}}
        return trajectory.model_copy(update={"verdicts": list(self.verdicts), "metadata": metadata})
