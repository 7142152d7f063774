"""What the judge sees: a trajectory's history up to one step, rendered as quoted data.

Every message becomes one JSON object on its own line inside a `<transcript>` block. Inside the JSON,
`<` and `>` are written as `\\u003c` and `\\u003e` (valid JSON escapes), so nothing the policy or a tool
wrote can open or close a tag of the prompt: the block's boundaries are the prompt's alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from cm2.schema import ChecklistItem, Message, StateReport, Trajectory, Turn
from cm2.schema.jsontext import loads_bounded

TRANSCRIPT_TAG = "transcript"


def encode_data(value: Any) -> str:
    """Compact JSON for `value`, with every angle bracket escaped so no tag can be forged."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def trajectory_turns(trajectory: Trajectory) -> list[Turn]:
    """The turns of a trajectory, split at user messages like a reference dialogue's, with the state reports
    the episode recorded (`metadata["steps"][i]["state"]`) on their steps."""
    turns = trajectory.turns()
    for entry in trajectory.metadata.get("steps") or []:
        if not isinstance(entry, dict) or entry.get("state") is None:
            continue
        t, s = int(entry["turn"]), int(entry["step"])
        if t < len(turns) and s < len(turns[t].steps):
            turns[t].steps[s] = replace(turns[t].steps[s], state=StateReport.model_validate(entry["state"]))
    return turns


def _tool_content(message: Message) -> Any:
    text = message.content or ""
    try:
        return loads_bounded(text)
    except json.JSONDecodeError:
        return text


def _arguments(arguments: str | dict[str, Any]) -> Any:
    if isinstance(arguments, dict):
        return arguments
    try:
        return loads_bounded(arguments)
    except json.JSONDecodeError:
        return arguments


def message_record(message: Message, turn: int, step: int | None) -> dict[str, Any]:
    """The judge's view of one message: role, position, and the fields the checklist focuses on."""
    record: dict[str, Any] = {"role": message.role, "turn": turn}
    if step is not None:
        record["step"] = step
    if message.role == "assistant":
        split = message.think
        if split.thinking is not None:
            record["thinking"] = split.thinking
        if split.visible or not message.calls:
            record["reply"] = split.visible
        if message.calls:
            record["tool_calls"] = [
                {"name": call.name, "arguments": _arguments(call.function.arguments)} for call in message.calls
            ]
    elif message.role == "tool":
        if message.name:
            record["name"] = message.name
        record["content"] = _tool_content(message)
    else:
        record["content"] = message.content or ""
    return record


def _turn_lines(turn: Turn, last_step: int | None) -> list[str]:
    """Lines of one turn; with `last_step`, stop after that step's tool messages."""
    lines: list[str] = []
    step = -1
    for message in turn.messages:
        if message.role == "assistant":
            step += 1
            if last_step is not None and step > last_step:
                break
        lines.append(encode_data(message_record(message, turn.index, step if step >= 0 else None)))
    return lines


@dataclass(frozen=True)
class StepContext:
    """The rendered history for judging step `step` of turn `turn` (also the cache's evidence key)."""

    turn: int
    step: int
    transcript: str


def render_context(turns: list[Turn], turn: int, step: int, system: Message | None = None) -> StepContext:
    """History up to and including assistant step `step` of turn `turn` and the tool results answering it."""
    lines: list[str] = []
    if system is not None:
        lines.append(encode_data({"role": "system", "content": system.content or ""}))
    for earlier in turns[:turn]:
        lines.extend(_turn_lines(earlier, None))
    lines.extend(_turn_lines(turns[turn], step))
    body = "\n".join(lines)
    return StepContext(turn, step, f"<{TRANSCRIPT_TAG}>\n{body}\n</{TRANSCRIPT_TAG}>")


def item_record(item: ChecklistItem, include_evidence: bool = False) -> dict[str, Any]:
    """The judge's view of one checklist item (dependencies, weights and strictness are not shown)."""
    record: dict[str, Any] = {"id": item.id, "focus_on": item.focus_on, "question": item.question}
    if item.pass_condition:
        record["pass_condition"] = item.pass_condition
    if item.failure_examples:
        record["failure_examples"] = item.failure_examples
    if include_evidence and item.evidence:
        record["reference_evidence"] = [ev.snippet for ev in item.evidence if ev.snippet]
    return record
