"""The seam between an episode and the tools it calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from cm2.schema import ToolCall, ToolSpec
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


EnvironmentFactory = Callable[[], ToolEnvironment]
"""Makes a fresh environment for a new episode."""
