"""Parse a policy's raw output into thinking, visible text and `<tool_call>` blocks."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field

from cm2.schema import FunctionCall, Message, ToolCall, split_think
from cm2.schema.jsontext import loads_bounded

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
_BLOCK = re.compile(r"<tool_call>(.*?)(</tool_call>|$)", re.DOTALL)


@dataclass
class ParsedOutput:
    """What the policy wrote, split into parts; `errors` lists malformed tool calls."""

    raw: str
    thinking: str | None
    visible: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_message(self) -> Message:
        """The assistant message as stored in a trajectory (content keeps the think block)."""
        # A malformed output keeps its raw text so the judge sees exactly what went wrong.
        content = _BLOCK.sub("", self.raw) if self.ok else self.raw
        return Message(role="assistant", content=content.strip(), tool_calls=self.tool_calls or None)


def _call_id(index: int, body: str) -> str:
    return f"call_{uuid.uuid5(uuid.NAMESPACE_OID, f'{index}:{body}').hex[:16]}"


def _parse_block(index: int, body: str) -> ToolCall:
    try:
        value = loads_bounded(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"tool call {index}: not valid JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(value, dict):
        raise ValueError(f"tool call {index}: expected an object, got {type(value).__name__}")
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"tool call {index}: missing a string `name`")
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = loads_bounded(arguments)
        except json.JSONDecodeError as exc:
            raise ValueError(f"tool call {index} ({name}): `arguments` string is not JSON") from exc
    if not isinstance(arguments, dict):
        raise ValueError(f"tool call {index} ({name}): `arguments` must be an object")
    return ToolCall(id=_call_id(index, body), function=FunctionCall(name=name, arguments=arguments))


def parse_output(text: str) -> ParsedOutput:
    """Split `text` into reasoning, visible reply and tool calls; never raises."""
    parts = split_think(text)
    after_think = parts.visible
    calls: list[ToolCall] = []
    errors: list[str] = []
    if parts.thinking is None and "</think>" in text:
        errors.append("`</think>` without an opening `<think>`")
    for index, match in enumerate(_BLOCK.finditer(after_think)):
        if not match.group(2):
            errors.append(f"tool call {index}: `{TOOL_CALL_OPEN}` is never closed")
            continue
        try:
            calls.append(_parse_block(index, match.group(1).strip()))
        except ValueError as exc:
            errors.append(str(exc))
    visible = _BLOCK.sub("", after_think).strip()
    return ParsedOutput(raw=text, thinking=parts.thinking, visible=visible, tool_calls=calls, errors=errors)
