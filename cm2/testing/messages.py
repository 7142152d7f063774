"""Message records to write test dialogues with: tool calls, assistant steps, tool answers."""

from __future__ import annotations

import json
from typing import Any


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    """A tool-call record with JSON-text arguments."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def assistant(thinking: str, *calls: dict[str, Any], reply: str = "") -> dict[str, Any]:
    """An assistant message: `<think>` reasoning, then the reply if any, and the tool calls if any."""
    content = f"<think>\n{thinking}\n</think>" + (f"\n\n{reply}" if reply else "")
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = list(calls)
    return message


def result(call_id: str, value: Any) -> dict[str, Any]:
    """The tool message answering call `call_id` with `value` as JSON."""
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(value)}
