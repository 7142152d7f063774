"""The filters' input step: any raw record dict seen as OpenAI messages plus a tool list.

It accepts cm2 records (`uuid, messages, tools, …`), OpenAI chat records (`messages, tools`) and
Nemotron records (`uuid, messages, metadata` where `metadata` is a JSON string holding `"tools"`).
Nothing here raises on bad input: what cannot be read becomes a `problem` that the `structure`
rule (record and message shape) or the `tool_schema` rule (the tool list) reports. The input dict
is never modified; messages are copied only when they need normalising.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cm2.data.filters.types import json_type
from cm2.schema.jsontext import loads_bounded

ROLES = frozenset({"system", "user", "assistant", "tool"})
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

Message = dict[str, Any]


@dataclass(slots=True)
class Prepared:
    """One record ready for the rules."""

    location: str
    id: str
    messages: list[Message]
    tools: list[Any]
    roles: list[str | None] = field(default_factory=list)
    """The role of each message (None when missing or not a string)."""
    calls: list[Sequence[Any]] = field(default_factory=list)
    """The tool calls of each message (empty when none, or when `tool_calls` is not an array)."""
    texts: list[str] = field(default_factory=list)
    """The content of each message as text (empty when missing or not text)."""
    problems: list[tuple[int | None, str]] = field(default_factory=list)
    """Shape problems (message index or None, reason), reported by the `structure` rule."""
    tool_problems: list[str] = field(default_factory=list)
    """Problems with the tool list as a whole, reported by the `tool_schema` rule."""
    memo: dict[str, Any] = field(default_factory=dict)
    """Derived values shared between rules, computed once on first use."""
    raw: Any = None
    """The record as given (read only)."""


def record_id(data: Any, default: str) -> str:
    """The dialogue id of a raw record (`uuid`, `id` or `dialogue_id`), else `default`."""
    if isinstance(data, dict):
        for key in ("uuid", "id", "dialogue_id"):
            value = data.get(key)
            if value is not None and value != "":
                return str(value)
    return default


def visible_text(content: str) -> str:
    """The user-visible part of assistant content: what follows the reasoning, stripped.

    That is the text after the last `</think>`, cut at any later `<think>`; an unclosed `<think>`
    hides everything after it.
    """
    if THINK_OPEN not in content and THINK_CLOSE not in content:
        return content.strip()
    tail = content.rpartition(THINK_CLOSE)[2]
    return tail.partition(THINK_OPEN)[0].strip()


def _parts_text(content: list[Any]) -> str | None:
    """Join OpenAI content parts (`[{"type": "text", "text": …}]`); None when they are not text parts."""
    texts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            return None
    return "".join(texts)


def _normalise_message(index: int, message: Any, problems: list[tuple[int | None, str]]) -> Message:
    if not isinstance(message, dict):
        problems.append((index, f"is {json_type(message)}, not an object"))
        return {}
    content = message.get("content")
    reasoning = message.get("reasoning_content")
    needs_copy = (content is not None and not isinstance(content, str)) or (
        isinstance(reasoning, str) and reasoning.strip() != ""
    )
    if "role" not in message:
        problems.append((index, "has no role"))
    elif not isinstance(message["role"], str):
        problems.append((index, f"role is {json_type(message['role'])}, not a string"))
    tool_calls = message.get("tool_calls")
    if tool_calls is not None and not isinstance(tool_calls, list):
        problems.append((index, f"tool_calls is {json_type(tool_calls)}, not an array"))
    elif tool_calls and message.get("role") != "assistant":
        problems.append((index, f"a {message.get('role')!r} message has tool calls"))
    if "function_call" in message:
        problems.append((index, "uses the legacy function_call field instead of tool_calls"))
    if not needs_copy:
        return message
    copied = dict(message)
    if content is not None and not isinstance(content, str):
        text = _parts_text(content) if isinstance(content, list) else None
        if text is None:
            problems.append((index, f"content is {json_type(content)}, not text"))
        copied["content"] = text
    if isinstance(reasoning, str) and reasoning.strip() and THINK_OPEN not in (copied.get("content") or ""):
        # Separate reasoning (vLLM/DeepSeek style) is folded into the content the way cm2 stores it.
        copied["content"] = f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n\n{copied.get('content') or ''}"
    return copied


_NO_CALLS: tuple[Any, ...] = ()


def _plain(message: Any) -> bool:
    """True for the common message that needs no normalising and has no shape problem."""
    if type(message) is not dict:
        return False
    role, content, calls = message.get("role"), message.get("content"), message.get("tool_calls")
    return (
        type(role) is str
        and (content is None or type(content) is str)
        and (calls is None or (type(calls) is list and (not calls or role == "assistant")))
        and "function_call" not in message
        and "reasoning_content" not in message
    )


def _messages(data: dict[str, Any], rec: Prepared) -> None:
    raw = data.get("messages")
    if raw is None:
        rec.problems.append((None, "the record has no 'messages' field"))
        return
    if not isinstance(raw, list):
        rec.problems.append((None, f"'messages' is {json_type(raw)}, not an array"))
        return
    messages: list[Message] = raw
    roles, calls, texts = rec.roles, rec.calls, rec.texts
    for index, message in enumerate(raw):
        if not _plain(message):
            message = _normalise_message(index, message, rec.problems)
            if messages is raw:
                messages = list(raw)
            messages[index] = message
        role = message.get("role")
        roles.append(role if type(role) is str else None)
        tool_calls = message.get("tool_calls")
        calls.append(tool_calls if tool_calls and type(tool_calls) is list else _NO_CALLS)
        content = message.get("content")
        texts.append(content if type(content) is str else "")
    rec.messages = messages


def _json_string(text: str, where: str, problems: list[str]) -> Any:
    """The JSON value in `text`, or None with a problem naming `where` when it does not parse."""
    try:
        return loads_bounded(text)
    except ValueError as exc:
        problems.append(f"{where} is not valid JSON ({exc})")
        return None


def _tools(data: dict[str, Any], problems: list[str]) -> list[Any]:
    if data.get("tools") is not None:
        tools, where = data["tools"], "'tools'"
    elif data.get("metadata") is not None:
        metadata, where = data["metadata"], "'metadata'"
        if isinstance(metadata, str):
            metadata = _json_string(metadata, where, problems)
        if not isinstance(metadata, dict):
            return []
        tools, where = metadata.get("tools"), "'metadata.tools'"
    else:
        return []
    if isinstance(tools, str):
        tools = _json_string(tools, where, problems)
    if tools is None:
        return []
    if not isinstance(tools, list):
        problems.append(f"{where} is {json_type(tools)}, not an array")
        return []
    # Bare function specs ({"name", "parameters", …}) are wrapped into the OpenAI tool form.
    return [
        {"type": "function", "function": tool}
        if isinstance(tool, dict) and "function" not in tool and ("name" in tool or "parameters" in tool)
        else tool
        for tool in tools
    ]


def prepare(data: Any, location: str) -> Prepared:
    """Normalise one raw record for the rules; never raises."""
    if not isinstance(data, dict):
        return Prepared(
            location, location, [], [], problems=[(None, f"the record is {json_type(data)}, not an object")]
        )
    rec = Prepared(location, record_id(data, location), [], [], raw=data)
    _messages(data, rec)
    rec.tools = _tools(data, rec.tool_problems)
    return rec
