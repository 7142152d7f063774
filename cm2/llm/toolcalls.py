"""Tool calls written as text (`<tool_call>{"name": …, "arguments": …}</tool_call>`) ↔ OpenAI tool_calls."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from typing import Any

from cm2.schema.jsontext import loads_bounded

_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


def parse_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Split generated text into its remaining content and the well-formed tool calls it contains.

    A block whose body is not a JSON object with a string `name` is left in the content untouched, so the
    caller (or a checklist judge) still sees what the model wrote.
    """
    calls: list[dict[str, Any]] = []

    def take(match: re.Match[str]) -> str:
        try:
            body = loads_bounded(match.group(1))
        except json.JSONDecodeError:
            return match.group(0)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return match.group(0)
        arguments = body.get("arguments", body.get("parameters", {}))
        calls.append(
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {
                    "name": body["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False),
                },
            }
        )
        return ""

    content = _BLOCK.sub(take, text)
    return (content.strip() if calls else content), calls


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
