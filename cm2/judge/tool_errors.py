"""Whether a step's tool call failed: the tool answered the simulator's `error_tool_call` object."""

from __future__ import annotations

from cm2.schema import AssistantStep, Message
from cm2.tools import is_tool_error


def failed_tool_messages(step: AssistantStep) -> list[Message]:
    """The tool messages of `step` that report a failed call (`cm2.tools`' error object)."""
    return [message for message in step.tool_messages if is_tool_error(message.content)]


__all__ = ["failed_tool_messages", "is_tool_error"]
