"""Per-turn tasks on the hybrid simulator: the calls of the context turns, replayed into a fresh simulator
before the played turn, get their recorded answers (no LLM, no error), and so does the played turn."""

from __future__ import annotations

import asyncio
import json

from cm2.data.turn_tasks import turn_tasks
from cm2.rollout.episode import replay_context
from cm2.schema import ToolCall
from cm2.testing.dialogues import weather_dialogue
from cm2.tools.result import ToolResult
from cm2.tools.simulator import HybridToolSimulator


class Recording:
    """Passes calls to `env` and keeps its answers (test helper)."""

    def __init__(self, env: HybridToolSimulator):
        self.env = env
        self.answers: list[ToolResult] = []

    async def call(self, tool_call: ToolCall) -> ToolResult:
        self.answers.append(await self.env.call(tool_call))
        return self.answers[-1]


def test_a_task_with_its_context_folded_back_is_its_source_up_to_the_played_turn() -> None:
    source = weather_dialogue()
    for task in turn_tasks(source):
        whole = task.with_context()
        assert whole.messages == source.messages[: len(whole.messages)] and not whole.context
        assert len(whole.turns()) == task.first_turn + 1


def test_context_calls_and_the_played_turn_get_recorded_answers() -> None:
    second = turn_tasks(weather_dialogue())[1]  # context: the Paris turn; played: the Rome turn
    env = Recording(HybridToolSimulator(second))  # no LLM: an unrecorded call would be an error
    asyncio.run(replay_context(env, second.context))  # type: ignore[arg-type]
    call = ToolCall.model_validate({"id": "x", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}})
    asyncio.run(env.call(call))
    assert [(a.source, json.loads(a.content)) for a in env.answers] == [
        ("replayed", {"forecast": "sunny"}),
        ("replayed", {"forecast": "rain"}),
    ]
