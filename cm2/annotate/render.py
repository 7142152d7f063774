"""Dialogues as annotator-facing text, with every message labelled by its turn and step."""

from __future__ import annotations

import json

from cm2.schema import Dialogue, Message, ToolCall, ToolSpec


def call_json(call: ToolCall) -> str:
    """A tool call as printed to annotators, `{"name": ..., "arguments": ...}` (arguments as stored)."""
    return json.dumps({"name": call.name, "arguments": call.function.arguments}, ensure_ascii=False)


def render_tools(tools: list[ToolSpec]) -> str:
    """One block per tool: name, description and JSON parameters."""
    if not tools:
        return "TOOLS: none declared"
    lines = ["TOOLS:"]
    for tool in tools:
        spec = tool.function
        lines.append(f"- {spec.name}: {spec.description.strip()}".rstrip())
        lines.append(f"  parameters: {json.dumps(spec.parameters, ensure_ascii=False)}")
    return "\n".join(lines)


def _render_assistant(message: Message) -> list[str]:
    split = message.think
    lines: list[str] = []
    if split.thinking is not None:
        lines += ["<assistant.content.thinking>", split.thinking, "</assistant.content.thinking>"]
    if message.calls:
        lines.append("<assistant.tool_calls>")
        lines += [call_json(call) for call in message.calls]
        lines.append("</assistant.tool_calls>")
    if split.visible:
        lines += ["<assistant.content.user_visible_reply>", split.visible, "</assistant.content.user_visible_reply>"]
    return lines or ["(empty message)"]


def render_message(turn: int, step: int, message: Message) -> str:
    """One message with its `[turn T, step S, ROLE]` header."""
    header = f"[turn {turn}, step {step}, {message.role}]"
    if message.role == "assistant":
        return "\n".join([header, *_render_assistant(message)])
    return f"{header}\n{message.content or ''}"


def render_dialogue(dialogue: Dialogue, *, tools: bool = True) -> str:
    """The whole dialogue: tools, the system prompt (outside any turn) and every turn, step by step."""
    parts: list[str] = []
    if tools:
        parts.append(render_tools(dialogue.tools))
    if dialogue.system is not None:
        parts.append(f"SYSTEM PROMPT (context, not part of any turn):\n{dialogue.system.content or ''}")
    for turn in dialogue.turns():
        parts.append(f"=== TURN {turn.index} ===")
        parts.extend(render_message(turn.index, step, message) for step, message in enumerate(turn.messages))
    return "\n\n".join(parts)
