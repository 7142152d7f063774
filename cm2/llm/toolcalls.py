"""Tool calls written as text (`<tool_call>{"name": …, "arguments": …}</tool_call>`): one parser for every
reader of model output (the episode runner, the endpoint policy, the local servers).

`parse_output` splits an output into thinking, visible reply and calls, and lists what is malformed (a block
that is not a JSON object with a string `name` and object `arguments`, a block never closed, a stray
`</think>`); blocks inside `<think>` are reasoning, not calls. `parse_tool_calls` is the same parse seen as an
OpenAI response: the calls as `tool_calls` only when every block parses, else the text comes back untouched
so the client (or a checklist judge) sees what the model wrote.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

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


def _loads(text: str, what: str) -> Any:
    try:
        return loads_bounded(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: not valid JSON ({exc.msg} at char {exc.pos})") from exc


def _parse_block(index: int, body: str) -> ToolCall:
    value = _loads(body, f"tool call {index}")
    if not isinstance(value, dict):
        raise ValueError(f"tool call {index}: expected an object, got {type(value).__name__}")
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"tool call {index}: missing a string `name`")
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        arguments = _loads(arguments, f"tool call {index} ({name}): `arguments` string")
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


def parse_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """`text` as an OpenAI answer: (content, tool_calls). The content keeps the `<think>` block; with any
    malformed block, or no block, it is `text` unchanged and there are no calls."""
    parsed = parse_output(text)
    if not parsed.tool_calls or not parsed.ok:
        return text, []
    message = parsed.to_message()
    calls = [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.function.arguments, ensure_ascii=False)},
        }
        for call in parsed.tool_calls
    ]
    return message.content or "", calls


def template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as chat templates expect them: `content` never None, tool-call arguments as objects."""
    out = []
    for message in messages:
        m = dict(message)
        if m.get("content") is None:
            m["content"] = ""
        if m.get("tool_calls"):
            m["tool_calls"] = [_with_object_arguments(call) for call in m["tool_calls"]]
        out.append(m)
    return out


def _with_object_arguments(call: dict[str, Any]) -> dict[str, Any]:
    function = dict(call.get("function") or {})
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        # Left as written when it is not JSON: the template renders the string.
        with contextlib.suppress(json.JSONDecodeError):
            function["arguments"] = loads_bounded(arguments) if arguments.strip() else {}
    return {**call, "function": function}
