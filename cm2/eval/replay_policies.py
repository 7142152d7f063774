"""Policies that measure the measurement: one that replays the reference dialogue step by step (a perfect
policy must score 100% on every held-out metric) and one that refuses every request (it must score 0)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from cm2.rollout.policy import Generation, SamplingConfig
from cm2.schema import Dialogue, Message, ToolSpec

REFUSAL = "I cannot help with that."


def reference_outputs(dialogue: Dialogue) -> list[str]:
    """The reference's assistant steps as raw policy text (its content, then each call as a `<tool_call>`
    block), for scripted policies that play the reference through the text parser."""
    outputs = []
    for message in dialogue.messages:
        if message.role != "assistant":
            continue
        text = message.content or ""
        for call in message.calls:
            body = {"name": call.name, "arguments": call.function.parsed_arguments()}
            text += f"\n<tool_call>{json.dumps(body)}</tool_call>"
        outputs.append(text)
    return outputs


class ReferencePolicy:
    """A chat policy that answers each step with the reference's step.

    The dialogue is recognised by the user messages so far and the step by the assistant messages since the
    last user message, so one policy serves many episodes at once. Past the reference's steps (never, when
    the episode replays the reference faithfully) it ends the turn with a short reply.
    """

    def __init__(self, dialogues: Iterable[Dialogue]):
        self._steps: dict[tuple[str, ...], list[Message]] = {}
        for dialogue in dialogues:
            users: tuple[str, ...] = ()
            for turn in dialogue.turns():
                users = (*users, turn.user.content or "")
                steps = [step.assistant for step in turn.steps]
                known = self._steps.setdefault(users, steps)
                if [m.dump() for m in known] != [m.dump() for m in steps]:
                    raise ValueError(
                        f"dialogue {dialogue.uuid}: turn {turn.index} repeats another dialogue's user "
                        "messages with different answers; the replay cannot tell them apart"
                    )

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> Generation:
        users = tuple(m.content or "" for m in messages if m.role == "user")
        steps = self._steps.get(users)
        if steps is None:
            raise ValueError(f"no reference dialogue has these {len(users)} user messages")
        last_user = max(i for i, m in enumerate(messages) if m.role == "user")
        step = sum(m.role == "assistant" for m in messages[last_user:])
        if step >= len(steps):
            return Generation(text="Done.")
        reply = steps[step].model_copy(deep=True)
        return Generation(text=reply.content or "", message=reply)


class RefusingPolicy:
    """A chat policy that never calls a tool: every step is the same refusal."""

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> Generation:
        return Generation(text=REFUSAL)
