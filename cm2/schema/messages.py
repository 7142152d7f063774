"""Chat messages in the OpenAI format, with `<think>` reasoning inside assistant content."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from cm2.schema.jsontext import loads_bounded

Role = Literal["system", "user", "assistant", "tool"]

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
_THINK_BLOCK = re.compile(r"^\s*<think>(.*?)</think>", re.DOTALL)


class _Record(BaseModel):
    """Base for records that must survive a load/dump round trip unchanged.

    Unknown keys are kept, and `dump()` writes only the keys that were present on input.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class FunctionCall(_Record):
    """The function part of a tool call; `arguments` may be a JSON string or an object."""

    name: str
    arguments: str | dict[str, Any] = "{}"

    def parsed_arguments(self) -> dict[str, Any]:
        """Arguments as a dict; raises ValueError when they are not a JSON object."""
        if isinstance(self.arguments, dict):
            return self.arguments
        try:
            value = loads_bounded(self.arguments) if self.arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"tool call {self.name!r}: arguments are not valid JSON ({exc.msg})") from exc
        if not isinstance(value, dict):
            raise ValueError(f"tool call {self.name!r}: arguments are {type(value).__name__}, not an object")
        return value


class ToolCall(_Record):
    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall

    @property
    def name(self) -> str:
        return self.function.name


@dataclass(frozen=True)
class ThinkSplit:
    """An assistant content split into private reasoning and the user-visible text."""

    thinking: str | None
    visible: str


def split_think(content: str | None) -> ThinkSplit:
    """Split leading `<think>…</think>` from the visible text (no tags → thinking is None)."""
    text = content or ""
    match = _THINK_BLOCK.match(text)
    if match is None:
        return ThinkSplit(thinking=None, visible=text.strip())
    return ThinkSplit(thinking=match.group(1).strip(), visible=text[match.end() :].strip())


def join_think(thinking: str | None, visible: str) -> str:
    """Inverse of `split_think` for well-formed content."""
    if thinking is None:
        return visible
    return f"{THINK_OPEN}\n{thinking}\n{THINK_CLOSE}" + (f"\n\n{visible}" if visible else "")


class Message(_Record):
    """One chat message. Assistant content may start with a `<think>` block."""

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    @property
    def calls(self) -> list[ToolCall]:
        return self.tool_calls or []

    @property
    def think(self) -> ThinkSplit:
        return split_think(self.content)

    @property
    def visible_text(self) -> str:
        return self.think.visible

    @property
    def is_final_reply(self) -> bool:
        """An assistant message with no tool calls: it ends its turn."""
        return self.role == "assistant" and not self.calls


def tool_response_json(message: Message) -> Any:
    """The parsed JSON of a tool message; raises ValueError when it is not JSON."""
    try:
        return loads_bounded(message.content or "")
    except json.JSONDecodeError as exc:
        raise ValueError(f"tool response is not valid JSON ({exc.msg})") from exc


__all__ = [
    "FunctionCall",
    "Message",
    "Role",
    "ThinkSplit",
    "ToolCall",
    "join_think",
    "split_think",
    "tool_response_json",
]
