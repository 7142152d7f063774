"""The structural size of a dialogue: turns, assistant steps, tool calls, tools, messages.

Shared by the split's RL predicate and by the statistics, so both count the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from cm2.schema import Dialogue


@dataclass(frozen=True, slots=True)
class DialogueShape:
    """Counts that describe how big and how tool-heavy one dialogue is.

    - `turns`: user messages (`Dialogue.turns()`; anything before the first user message is no turn);
    - `steps`: assistant messages inside turns (`Dialogue.steps()`);
    - `tool_calls`: tool calls over all assistant messages;
    - `distinct_tools`: distinct tool names among those calls;
    - `messages`: all messages, system and tool messages included;
    - `tools`: tools offered to the assistant (`Dialogue.tools`).
    """

    turns: int
    steps: int
    tool_calls: int
    distinct_tools: int
    messages: int
    tools: int


def dialogue_shape(dialogue: Dialogue) -> DialogueShape:
    """Count `dialogue`'s turns, steps, tool calls, distinct called tools, messages and offered tools."""
    turns = dialogue.turns()
    called = [call.name for message in dialogue.messages if message.role == "assistant" for call in message.calls]
    return DialogueShape(
        turns=len(turns),
        steps=sum(len(turn.steps) for turn in turns),
        tool_calls=len(called),
        distinct_tools=len(set(called)),
        messages=len(dialogue.messages),
        tools=len(dialogue.tools),
    )
