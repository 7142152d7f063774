import asyncio
import json

from cm2.rollout.episode import EpisodeConfig, EpisodeLimitsConfig, EpisodeRunner, run_episodes
from cm2.rollout.policy import Generation
from cm2.testing import LOOKUP_CALL, EchoTools, RuleJudge, ScriptedPolicy, call_dialogue


def test_full_episode_with_tool_step_and_judging() -> None:
    policy = ScriptedPolicy([LOOKUP_CALL, "<think>x</think>\n\nanswer", "<think>y</think>\n\nbye"])
    judge = RuleJudge()
    runner = EpisodeRunner(policy, lambda d: EchoTools(), judge)
    trajectory = asyncio.run(runner.run(call_dialogue()))
    assert trajectory.stop_reason == "completed"
    roles = [m.role for m in trajectory.messages]
    assert roles == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    assert json.loads(trajectory.messages[2].content or "") == {"echo": {"q": 1}}
    # C0 satisfied at step 0 of turn 0 is not asked again at step 1
    assert judge.asked == [(0, 0, ["C0"]), (1, 0, ["C0"])]
    assert [v.satisfied for v in trajectory.verdicts] == [True, False]
    assert trajectory.metadata["steps"][0]["tool_sources"] == ["executed"]


def test_required_item_unmet_stops_the_episode() -> None:
    policy = ScriptedPolicy(["<think>x</think>\n\nno tools today"])
    trajectory = asyncio.run(EpisodeRunner(policy, lambda d: EchoTools(), RuleJudge()).run(call_dialogue()))
    assert trajectory.stop_reason == "required_item_failed"
    assert [m.role for m in trajectory.messages] == ["user", "assistant"]


def test_malformed_call_is_a_failed_step_not_a_crash() -> None:
    policy = ScriptedPolicy(['<tool_call>{"name": "lookup", "arguments": [}</tool_call>', LOOKUP_CALL, "done", "bye"])
    tools = EchoTools()
    trajectory = asyncio.run(EpisodeRunner(policy, lambda d: tools, RuleJudge()).run(call_dialogue()))
    error = json.loads(trajectory.messages[2].content or "")
    assert error["error_tool_call"]["code"] == "malformed_tool_call"
    assert trajectory.metadata["steps"][0]["tool_sources"] == ["error"]
    assert tools.calls == ["lookup"]
    assert trajectory.stop_reason == "completed"


def test_step_limit() -> None:
    policy = ScriptedPolicy([LOOKUP_CALL] * 3)
    config = EpisodeConfig(limits=EpisodeLimitsConfig(max_steps_per_turn=3))
    trajectory = asyncio.run(EpisodeRunner(policy, lambda d: EchoTools(), None, config).run(call_dialogue()))
    assert trajectory.stop_reason == "max_steps"


def test_many_episodes_keep_order_and_groups() -> None:
    class Slow(ScriptedPolicy):
        async def respond(self, messages, tools, sampling):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.01)
            return Generation(text="<think>t</think>\n\nhi")

    runner = EpisodeRunner(Slow([]), lambda d: EchoTools(), None)
    trajectories = asyncio.run(run_episodes(runner, [(call_dialogue(), 0)], group_size=4))
    assert [t.rollout for t in trajectories] == [0, 1, 2, 3]
    assert {t.group for t in trajectories} == {"d1:0"}


def test_a_turn_cut_at_the_step_limit_can_hand_over_to_the_next_turn() -> None:
    config = EpisodeConfig(
        limits=EpisodeLimitsConfig(max_steps_per_turn=2), at_step_limit="next_turn", early_stop=False
    )
    policy = ScriptedPolicy([LOOKUP_CALL, LOOKUP_CALL, "<think>y</think>\n\nbye"])
    trajectory = asyncio.run(EpisodeRunner(policy, lambda d: EchoTools(), RuleJudge(), config).run(call_dialogue()))
    assert trajectory.stop_reason == "completed"
    roles = [m.role for m in trajectory.messages]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "user", "assistant"]
    assert trajectory.metadata["turns_cut_at_step_limit"] == 1


def test_the_runner_adds_up_its_episodes_tool_and_judge_seconds() -> None:
    class SlowJudge(RuleJudge):
        async def judge_step(self, asked, usage=None):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.02)
            return await super().judge_step(asked, usage)

    def policy() -> ScriptedPolicy:
        return ScriptedPolicy([LOOKUP_CALL, "<think>x</think>\n\nanswer", "<think>y</think>\n\nbye"])

    policies = iter([policy(), policy()])
    runner = EpisodeRunner(policy(), lambda d: EchoTools(latency_s=0.05), SlowJudge())
    for _ in range(2):  # two episodes, one after the other: one tool call and two judged steps each
        runner.policy = next(policies)
        asyncio.run(runner.run(call_dialogue()))
    times = runner.times
    assert 0.1 <= times.tools_s < 0.1 + 0.5
    assert 0.08 <= times.judge_s < 0.08 + 0.5
    assert times.env_setup_s >= 0 and times.template_s == 0  # a chat policy keeps no token transcript
