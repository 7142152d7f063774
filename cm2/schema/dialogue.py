"""A reference dialogue: messages, tools and checklists, with views by turn and by step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import AliasChoices, Field

from cm2.schema.checklist import Checklist, TurnChecklist
from cm2.schema.messages import Message, ToolCall, _Record
from cm2.schema.tools import ToolSpec


class StateReport(_Record):
    """What a tool environment said about its state when a turn ended: whether it equals the reference
    state after that turn, and why not."""

    matched: bool
    reason: str = ""


@dataclass(frozen=True)
class AssistantStep:
    """One assistant message and the tool messages that answer it.

    `index` is the assistant step's position in its turn (0-based); `message_index` is the
    position of the assistant message among the turn's messages (the released data's `step`,
    user = 0). `state` is the environment's report on its state after a step that ended the turn
    (None when it was not asked or reports nothing).
    """

    turn: int
    index: int
    message_index: int
    assistant: Message
    tool_messages: list[Message] = field(default_factory=list)
    state: StateReport | None = None

    @property
    def calls(self) -> list[ToolCall]:
        return self.assistant.calls

    @property
    def is_final(self) -> bool:
        return self.assistant.is_final_reply

    @property
    def ends_turn(self) -> bool:
        """The step ends its turn with a visible reply: no tool call, nothing answered it, text shown."""
        return self.is_final and not self.tool_messages and bool(self.assistant.visible_text.strip())


@dataclass(frozen=True)
class Turn:
    """A user message and everything up to the next user message."""

    index: int
    start: int
    messages: list[Message]

    @property
    def user(self) -> Message:
        return self.messages[0]

    @cached_property
    def steps(self) -> list[AssistantStep]:
        steps: list[AssistantStep] = []
        for position, message in enumerate(self.messages):
            if message.role == "assistant":
                steps.append(AssistantStep(self.index, len(steps), position, message, []))
            elif message.role == "tool" and steps:
                steps[-1].tool_messages.append(message)
        return steps


def split_turns(messages: Sequence[Message]) -> list[Turn]:
    """The turns of a message list: split at every user message; anything before the first one is not a turn.

    The one turn view of dialogues and trajectories alike (`Dialogue.turns`, `Trajectory.turns`).
    """
    turns: list[Turn] = []
    current: list[Message] = []
    start = 0
    for position, message in enumerate(messages):
        if message.role == "user":
            if current:
                turns.append(Turn(len(turns), start, current))
            current, start = [message], position
        elif current:
            current.append(message)
    if current:
        turns.append(Turn(len(turns), start, current))
    return turns


class Dialogue(_Record):
    """A reference dialogue with its tools and zero or more checklists (each one per-turn)."""

    uuid: str = Field(validation_alias=AliasChoices("uuid", "id", "dialogue_id"))
    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    checklists: list[Checklist] = Field(default_factory=list)
    context: list[Message] = Field(
        default_factory=list,
        description="Earlier turns given as history before the first played turn (a per-turn task): shown to the "
        "policy, their tool calls replayed into the environment first, never played or scored.",
    )
    first_turn: int = Field(
        default=0, ge=0, description="Index in the source dialogue of the first played turn (the environment's count)."
    )

    @property
    def id(self) -> str:
        return self.uuid

    def with_context(self) -> Dialogue:
        """The source dialogue of a per-turn task: its context folded back in before the played turns (itself
        when there is no context)."""
        if not self.context:
            return self
        head = self.messages[:1] if self.system else []
        messages = [*head, *self.context, *self.messages[len(head) :]]
        return self.model_copy(update={"messages": messages, "context": [], "first_turn": 0})

    @property
    def system(self) -> Message | None:
        first = self.messages[0] if self.messages else None
        return first if first is not None and first.role == "system" else None

    def turns(self) -> list[Turn]:
        """Split at every user message; anything before the first user message is not a turn."""
        return split_turns(self.messages)

    def steps(self) -> list[AssistantStep]:
        return [step for turn in self.turns() for step in turn.steps]

    @property
    def num_tool_calls(self) -> int:
        return sum(len(m.calls) for m in self.messages if m.role == "assistant")

    def tool_names(self) -> list[str]:
        return [tool.name for tool in self.tools]

    def dump(self) -> dict[str, Any]:
        data = super().dump()
        if "checklists" in data:
            data["checklists"] = [[turn.dump_items() for turn in checklist] for checklist in self.checklists]
        return data


def checklist_turn(dialogue: Dialogue, checklist: int, turn: int) -> TurnChecklist | None:
    """The items of one turn of one checklist, or None when the checklist stops earlier."""
    if checklist >= len(dialogue.checklists):
        return None
    turns = dialogue.checklists[checklist]
    return turns[turn] if turn < len(turns) else None
