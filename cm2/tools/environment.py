"""The seam between an episode and the tools it calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from cm2.schema import StateReport, ToolCall, ToolSpec
from cm2.tools.result import ToolResult


@runtime_checkable
class ToolEnvironment(Protocol):
    """Answers the tool calls of one episode. Create one instance per episode: it may hold state
    (a memo of earlier answers, a file system, an account balance) that must not leak between episodes."""

    @property
    def tools(self) -> list[ToolSpec]:
        """The tools offered to the policy."""
        ...

    async def call(self, tool_call: ToolCall) -> ToolResult:
        """Answer one call. Never raises for a bad call: bad calls get an error object."""
        ...


@runtime_checkable
class ReportsState(Protocol):
    """An environment that can tell whether its state equals the reference dialogue's state after a turn
    (optional: the episode runner asks when a turn ends, and `environment_state` checklist items read it)."""

    def state_report(self, turn: int) -> StateReport | None:
        """Whether the state now equals the reference state after `turn` (0-based); None when the reference
        has no such turn."""
        ...


EnvironmentFactory = Callable[[], ToolEnvironment]
"""Makes a fresh environment for a new episode."""
