"""The tool calls recorded in a reference dialogue, paired with the tool messages that answered them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from cm2.schema import AssistantStep, Dialogue, Message, ToolCall
from cm2.tools.canonical import call_key


@dataclass(frozen=True)
class RecordedCall:
    """One call of the reference dialogue and the content of its tool message."""

    tool: str
    arguments: dict[str, Any]
    response: str
    turn: int
    step: int


def _pair(step: AssistantStep) -> list[tuple[ToolCall, Message]]:
    """Match a step's calls with its tool messages: by `tool_call_id` when every message has a known one,
    else by position (the released data carries no ids on tool messages)."""
    calls, answers = step.calls, step.tool_messages
    ids = {call.id: call for call in calls if call.id}
    if answers and all(m.tool_call_id in ids for m in answers):
        return [(ids[m.tool_call_id], m) for m in answers if m.tool_call_id is not None]
    return list(zip(calls, answers, strict=False))


def recorded_calls(dialogue: Dialogue) -> list[RecordedCall]:
    """Every answered call of `dialogue` whose arguments are a JSON object, in dialogue order; a per-turn task's
    context counts too, since the episode replays its calls into the environment first."""
    out: list[RecordedCall] = []
    for step in dialogue.with_context().steps():
        for call, answer in _pair(step):
            try:
                arguments = call.function.parsed_arguments()
            except ValueError:
                continue
            out.append(RecordedCall(call.name, arguments, answer.content or "", step.turn, step.index))
    return out


class RecordedIndex:
    """Recorded responses by call identity (tool name + canonical arguments)."""

    def __init__(self, calls: list[RecordedCall]):
        self.calls = calls
        self._responses: dict[str, list[str]] = defaultdict(list)
        for call in calls:
            self._responses[call_key(call.tool, call.arguments)].append(call.response)

    @classmethod
    def from_dialogue(cls, dialogue: Dialogue) -> RecordedIndex:
        return cls(recorded_calls(dialogue))

    def count(self, key: str) -> int:
        """How many answers were recorded for this call."""
        return len(self._responses.get(key, ()))

    def response(self, key: str, occurrence: int) -> str | None:
        """The answer to the `occurrence`-th (0-based) identical call: recorded answers in order, then the last."""
        answers = self._responses.get(key)
        if not answers:
            return None
        return answers[min(occurrence, len(answers) - 1)]

    def for_tool(self, tool: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.tool == tool]
