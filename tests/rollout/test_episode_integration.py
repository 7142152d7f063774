"""The episode runner with the real judge (over HTTP to a test server) and the real hybrid simulator."""

import asyncio
import json

import pytest

from cm2.judge import ChecklistJudge, JudgeConfig
from cm2.llm import LLMConfig
from cm2.llm.factory import make_client
from cm2.llm.testing import FakeOpenAIServer, FaultConfig
from cm2.rollout.episode import EpisodeConfig, EpisodeRunner
from cm2.testing import LOOKUP_CALL, EchoTools, ScriptedPolicy, call_dialogue, reply_judge, weather_dialogue
from cm2.tools import HybridToolSimulator


def test_episode_with_real_judge_and_simulator() -> None:
    policy = ScriptedPolicy(
        [
            '<think>fetch</think>\n<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
            "<think>ok</think>\n\nIt is sunny in Paris.",
        ]
    )
    with FakeOpenAIServer(reply_judge) as server:
        client = make_client(LLMConfig(model="fake-model", base_urls=[server.base_url], api_key_env=None))
        judge = ChecklistJudge(client, JudgeConfig(mode="batched"))
        runner = EpisodeRunner(policy, HybridToolSimulator, judge)
        trajectory = asyncio.run(runner.run(weather_dialogue("w1", ("Paris",), (0.5,), system=None)))
        judge_calls = server.request_count
    assert trajectory.stop_reason == "completed"
    assert json.loads(trajectory.messages[2].content or "") == {"forecast": "sunny"}  # replayed
    assert trajectory.metadata["steps"][0]["tool_sources"] == ["replayed"]
    by_step = {(v.step, v.item): (v.satisfied, v.source) for v in trajectory.verdicts}
    assert by_step[(0, "C0")] == (True, "check")  # decided in code, no LLM
    assert by_step[(0, "C1")][0] is False  # no reply yet
    assert by_step[(1, "C1")] == (True, "llm")  # asked over HTTP
    assert (1, "C0") not in by_step  # satisfied items are not asked again
    assert judge_calls == 1


@pytest.mark.parametrize("counts_as_failed", [True, False])
def test_a_judge_answering_401_never_reads_as_the_policys_failure(counts_as_failed: bool) -> None:
    """A required item the judge cannot decide ends the episode as judge_unavailable (or, when told to, the
    episode goes on); either way the trajectory says how many verdicts are missing."""
    policy = ScriptedPolicy([LOOKUP_CALL, "<think>x</think>\n\nanswer", "<think>y</think>\n\nbye"])
    with FakeOpenAIServer(faults=FaultConfig(error_401=1.0)) as server:
        settings = LLMConfig(model="judge", base_urls=[server.base_url], api_key_env=None, max_retries=0)
        judge = ChecklistJudge(make_client(settings), JudgeConfig(model="judge", attempts=1))
        config = EpisodeConfig(unknown_counts_as_failed=counts_as_failed)
        trajectory = asyncio.run(EpisodeRunner(policy, lambda d: EchoTools(), judge, config).run(call_dialogue()))
    assert server.faults["error_401"] == server.request_count > 0
    missing = [v for v in trajectory.verdicts if v.satisfied is None]
    assert [(v.turn, v.step) for v in missing] == [(0, 0), (0, 1)]  # C0 at both steps of turn 0
    assert all(v.source == "unavailable" and "HTTP 401" in (v.reason or "") for v in missing)
    assert trajectory.unavailable_verdicts() == trajectory.metadata["unavailable_verdicts"] == 2
    if counts_as_failed:
        assert trajectory.stop_reason == "judge_unavailable"
        assert len([m for m in trajectory.messages if m.role == "user"]) == 1
    else:
        assert trajectory.stop_reason == "completed"  # turn 1's C0 is false without asking: no call there
