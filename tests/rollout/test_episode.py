import asyncio
import json

from cm2.rollout.episode import EpisodeConfig, EpisodeLimitsConfig, EpisodeRunner, run_episodes
from cm2.rollout.policy import Generation, SamplingConfig
from cm2.schema import AssistantStep, ChecklistItem, Dialogue, Message, ToolCall, ToolSpec, Verdict
from cm2.tools import ToolResult


def _dialogue() -> Dialogue:
    item = {"focus_on": "assistant.tool_calls", "question": "called?", "weight": 1.0}
    return Dialogue.model_validate(
        {
            "uuid": "d1",
            "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "<think>a</think>\n\nok"},
                {"role": "user", "content": "second"},
                {"role": "assistant", "content": "<think>b</think>\n\nok"},
            ],
            "checklists": [
                [[{**item, "id": "C0", "required_for_next_turn": True}], [{**item, "id": "C0"}]],
            ],
        }
    )


class ScriptedPolicy:
    """Plays back a fixed list of assistant outputs (unit-test fake, not a model)."""

    def __init__(self, outputs: list[str]):
        self.outputs = list(outputs)
        self.seen: list[list[Message]] = []

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> Generation:
        self.seen.append(list(messages))
        await asyncio.sleep(0)
        return Generation(text=self.outputs.pop(0))


class EchoTools:
    """Unit-test tool environment that echoes the arguments back."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.tools: list[ToolSpec] = []

    async def call(self, tool_call: ToolCall) -> ToolResult:
        self.calls.append(tool_call.name)
        return ToolResult(content=json.dumps({"echo": tool_call.function.parsed_arguments()}), source="executed")


class CallJudge:
    """Satisfied when the step made a tool call (unit-test fake)."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int, list[str]]] = []

    async def judge_step(
        self,
        dialogue: Dialogue,
        history: list[Message],
        step: AssistantStep,
        items: list[ChecklistItem],
        usage: object = None,
    ) -> list[Verdict]:
        self.asked.append((step.turn, step.index, [i.id for i in items]))
        return [Verdict(item=i.id, turn=step.turn, step=step.index, satisfied=bool(step.calls)) for i in items]


CALL = '<think>look</think>\n<tool_call>{"name": "lookup", "arguments": {"q": 1}}</tool_call>'


def test_full_episode_with_tool_step_and_judging() -> None:
    policy = ScriptedPolicy([CALL, "<think>x</think>\n\nanswer", "<think>y</think>\n\nbye"])
    judge = CallJudge()
    runner = EpisodeRunner(policy, lambda d: EchoTools(), judge)
    trajectory = asyncio.run(runner.run(_dialogue()))
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
    trajectory = asyncio.run(EpisodeRunner(policy, lambda d: EchoTools(), CallJudge()).run(_dialogue()))
    assert trajectory.stop_reason == "required_item_failed"
    assert [m.role for m in trajectory.messages] == ["user", "assistant"]


def test_malformed_call_is_a_failed_step_not_a_crash() -> None:
    policy = ScriptedPolicy(['<tool_call>{"name": "lookup", "arguments": [}</tool_call>', CALL, "done", "bye"])
    tools = EchoTools()
    trajectory = asyncio.run(EpisodeRunner(policy, lambda d: tools, CallJudge()).run(_dialogue()))
    error = json.loads(trajectory.messages[2].content or "")
    assert error["error_tool_call"]["code"] == "malformed_tool_call"
    assert trajectory.metadata["steps"][0]["tool_sources"] == ["error"]
    assert tools.calls == ["lookup"]
    assert trajectory.stop_reason == "completed"


def test_step_limit() -> None:
    policy = ScriptedPolicy([CALL] * 3)
    config = EpisodeConfig(limits=EpisodeLimitsConfig(max_steps_per_turn=3))
    trajectory = asyncio.run(EpisodeRunner(policy, lambda d: EchoTools(), None, config).run(_dialogue()))
    assert trajectory.stop_reason == "max_steps"


def test_many_episodes_keep_order_and_groups() -> None:
    class Slow(ScriptedPolicy):
        async def respond(self, messages, tools, sampling):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.01)
            return Generation(text="<think>t</think>\n\nhi")

    runner = EpisodeRunner(Slow([]), lambda d: EchoTools(), None)
    trajectories = asyncio.run(run_episodes(runner, [(_dialogue(), 0)], group_size=4))
    assert [t.rollout for t in trajectories] == [0, 1, 2, 3]
    assert {t.group for t in trajectories} == {"d1:0"}


def test_a_turn_cut_at_the_step_limit_can_hand_over_to_the_next_turn() -> None:
    config = EpisodeConfig(
        limits=EpisodeLimitsConfig(max_steps_per_turn=2), at_step_limit="next_turn", early_stop=False
    )
    policy = ScriptedPolicy([CALL, CALL, "<think>y</think>\n\nbye"])
    trajectory = asyncio.run(EpisodeRunner(policy, lambda d: EchoTools(), CallJudge(), config).run(_dialogue()))
    assert trajectory.stop_reason == "completed"
    roles = [m.role for m in trajectory.messages]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "user", "assistant"]
    assert trajectory.metadata["turns_cut_at_step_limit"] == 1
