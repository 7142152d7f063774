"""Scripted stand-ins for a policy, a tool environment and a judge (test fakes, not models): each satisfies
the Protocol the episode runner asks for, records what it was asked, and can wait to play a latency."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from cm2.judge import StepToJudge
from cm2.rollout.policy import Generation, SamplingConfig
from cm2.schema import AssistantStep, Message, ToolCall, ToolSpec, Verdict
from cm2.tools import ToolResult


class ScriptedPolicy:
    """Plays back a fixed list of assistant outputs; when they run out it says `when_done`, or fails when
    that is None (a test that runs out of script is a broken test)."""

    def __init__(self, outputs: list[str], when_done: str | None = None):
        self.outputs = list(outputs)
        self.when_done = when_done
        self.seen: list[list[Message]] = []

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> Generation:
        self.seen.append(list(messages))
        await asyncio.sleep(0)
        if not self.outputs and self.when_done is not None:
            return Generation(text=self.when_done)
        return Generation(text=self.outputs.pop(0))


class EchoTools:
    """A tool environment that echoes the call's arguments back, after `latency_s` seconds."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.calls: list[str] = []
        self.tools: list[ToolSpec] = []

    async def call(self, tool_call: ToolCall) -> ToolResult:
        self.calls.append(tool_call.name)
        await asyncio.sleep(self.latency_s)
        return ToolResult(content=json.dumps({"echo": tool_call.function.parsed_arguments()}), source="executed")


Rule = Callable[[AssistantStep, int], bool]
"""Whether the item at this position of the asked list holds for this step."""


def made_a_call(step: AssistantStep, position: int) -> bool:
    """Every item holds when the step made a tool call."""
    return bool(step.calls)


def even_length(step: AssistantStep, position: int) -> bool:
    """Items alternate with the parity of the step's text length, so rewards vary across a group of random
    rollouts."""
    return (len(step.assistant.content or "") + position) % 2 == 0


class RuleJudge:
    """A step judge deciding every asked item by `rule`, after `latency_s` seconds; records (turn, step,
    item ids) of every request in `asked`."""

    def __init__(self, rule: Rule = made_a_call, latency_s: float = 0.0) -> None:
        self.rule = rule
        self.latency_s = latency_s
        self.asked: list[tuple[int, int, list[str]]] = []

    async def judge_step(self, asked: StepToJudge, usage: object = None) -> list[Verdict]:
        step = asked.step
        self.asked.append((step.turn, step.index, [i.id for i in asked.items]))
        await asyncio.sleep(self.latency_s)
        return [
            Verdict(item=i.id, turn=step.turn, step=step.index, satisfied=self.rule(step, k))
            for k, i in enumerate(asked.items)
        ]
