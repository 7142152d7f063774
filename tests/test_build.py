"""The builder: tool environments chosen by registered name (a custom one, the simulator, BFCL's real
backends), run through the real episode runner with the judge the builder makes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest

from cm2.build import EnvironmentContext, build_environments, build_judge, register_environment, register_judge
from cm2.eval.replay_policies import ReferencePolicy
from cm2.judge import ChecklistJudge, JudgeConfig, JudgeUsage, StepToJudge
from cm2.rollout.episode import EpisodeConfig, EpisodeLimitsConfig, EpisodeRunner
from cm2.schema import Dialogue, StateReport, ToolCall, ToolSpec, Verdict
from cm2.tools import HybridToolSimulator, SimulatorConfig, ToolEnvironment, ToolResult
from cm2.train.rl_config import RLRunConfig


class Ledger:
    """A custom tool environment: answers every call with its running count and reports a state match once
    `deposit` was called (a test environment, registered by name below)."""

    def __init__(self, dialogue: Dialogue, opening: int):
        self.specs = dialogue.tools
        self.balance = opening
        self.deposited = False

    @property
    def tools(self) -> list[ToolSpec]:
        return self.specs

    async def call(self, tool_call: ToolCall) -> ToolResult:
        self.balance += int(tool_call.function.parsed_arguments().get("amount", 0))
        self.deposited = True
        return ToolResult(content=json.dumps({"balance": self.balance}), source="executed")

    def state_report(self, turn: int) -> StateReport | None:
        return StateReport(matched=self.deposited)


@register_environment("ledger-test")
def ledger_environments(context: EnvironmentContext) -> Callable[[Dialogue], ToolEnvironment]:
    """Builders get the simulator sections too; this one takes its opening balance from the seed."""
    return lambda dialogue: Ledger(dialogue, opening=context.simulator.seed)


def ledger_dialogue() -> Dialogue:
    deposit = {"name": "deposit", "parameters": {"type": "object", "properties": {"amount": {"type": "integer"}}}}
    checks = [
        {"id": "C0", "focus_on": "assistant.tool_calls", "question": "deposit 5?", "weight": 0.5,
         "check": {"tool": "deposit", "arguments": {"amount": {"value": 5}}}},
        {"id": "C1", "focus_on": "tool.content", "question": "state?", "weight": 0.5,
         "check": {"kind": "environment_state"}},
    ]  # fmt: skip
    call = {"id": "c0", "type": "function", "function": {"name": "deposit", "arguments": '{"amount": 5}'}}
    return Dialogue.model_validate(
        {
            "uuid": "ledger-1",
            "tools": [{"type": "function", "function": deposit}],
            "messages": [
                {"role": "user", "content": "Deposit 5."},
                {"role": "assistant", "content": "<think>pay</think>", "tool_calls": [call]},
                {"role": "tool", "content": '{"balance": 105}', "tool_call_id": "c0"},
                {"role": "assistant", "content": "<think>done</think>\n\nDeposited."},
            ],
            "checklists": [[checks]],
        }
    )


def episode_config() -> EpisodeConfig:
    return EpisodeConfig(limits=EpisodeLimitsConfig(max_turns=30, max_steps_per_turn=8), early_stop=False)


def test_a_custom_environment_registered_by_name_runs_an_episode() -> None:
    dialogue = ledger_dialogue()
    config = RLRunConfig.model_validate(
        {"model": {"path": "-"}, "data": "-", "tools": "ledger-test", "simulator": {"seed": 100}}
    )
    make_env = build_environments(config.tools, config.simulator)
    judge = build_judge(config.judge)
    runner = EpisodeRunner(ReferencePolicy([dialogue]), make_env, judge, episode_config())
    trajectory = asyncio.run(runner.run(dialogue))
    assert trajectory.stop_reason == "completed"
    assert [m.content for m in trajectory.messages if m.role == "tool"] == ['{"balance": 105}']
    assert {v.item: v.satisfied for v in trajectory.verdicts} == {"C0": True, "C1": True}
    assert make_env(dialogue) is not make_env(dialogue)  # a fresh environment per episode


def test_an_unknown_tool_environment_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"tools\n.*unknown tool environment 'gym'; known: .*ledger-test, simulated"):
        RLRunConfig.model_validate({"model": {"path": "-"}, "data": "-", "tools": "gym"})


def test_simulated_builds_one_hybrid_simulator_per_episode_sharing_the_dialogue_book() -> None:
    dialogue = ledger_dialogue()
    make_env = build_environments("simulated", SimulatorConfig(max_attempts=2))
    first, second = make_env(dialogue), make_env(dialogue)
    assert isinstance(first, HybridToolSimulator) and isinstance(second, HybridToolSimulator)
    assert first is not second and first.book is second.book and first.config.max_attempts == 2
    answer = asyncio.run(first.call(dialogue.messages[1].calls[0]))
    assert answer.source == "replayed" and answer.content == '{"balance": 105}'


def test_without_a_judge_endpoint_the_reason_says_what_to_set() -> None:
    judge = build_judge(JudgeConfig(), no_endpoint_hint="set judge.llm")
    dialogue = ledger_dialogue().model_copy(deep=True)
    dialogue.checklists[0][0].items[0].check = None  # now only an LLM can decide it
    runner = EpisodeRunner(ReferencePolicy([dialogue]), build_environments("ledger-test"), judge, episode_config())
    verdicts = asyncio.run(runner.run(dialogue)).verdicts
    unavailable = [v for v in verdicts if v.item == "C0"]
    assert unavailable and all(v.satisfied is None for v in unavailable)
    assert "no judge endpoint is configured (set judge.llm)" in (unavailable[0].reason or "")


@register_judge("strict-test")
class StrictJudge(ChecklistJudge):
    """A judge variant registered by name: no item passes at a step that made no tool call."""

    async def judge_step(self, asked: StepToJudge, usage: JudgeUsage | None = None) -> list[Verdict]:
        verdicts = await super().judge_step(asked, usage)
        return [v if asked.step.calls else v.model_copy(update={"satisfied": False}) for v in verdicts]


def test_a_judge_registered_by_name_is_built_from_the_judge_config() -> None:
    dialogue = ledger_dialogue()
    config = RLRunConfig.model_validate({"model": {"path": "-"}, "data": "-", "judge": {"kind": "strict-test"}})
    judge = build_judge(config.judge)
    assert isinstance(judge, StrictJudge)
    runner = EpisodeRunner(ReferencePolicy([dialogue]), build_environments("ledger-test"), judge, episode_config())
    verdicts = asyncio.run(runner.run(dialogue)).verdicts
    assert {(v.item, v.step): v.satisfied for v in verdicts} == {("C0", 0): True, ("C1", 0): False, ("C1", 1): False}
    with pytest.raises(ValueError, match=r"unknown judge 'lenient'; known: checklist, strict-test"):
        JudgeConfig(kind="lenient")


def test_choosing_bfcl_by_name_imports_bfcl_only_then() -> None:
    """Validating `tools: bfcl` reads the plug-in's entry point without importing it; building it does."""
    script = textwrap.dedent(
        """
        import sys
        from cm2.train.rl_config import RLRunConfig
        RLRunConfig.model_validate({"model": {"path": "-"}, "data": "-", "tools": "bfcl"})
        early = "cm2.benchmarks.bfcl.environment" in sys.modules or "bfcl_eval" in sys.modules
        assert not early, "imported too early"
        from cm2.build import build_environments
        build_environments("bfcl")
        assert "cm2.benchmarks.bfcl.environment" in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_bfcl_by_name_gives_bfcl_real_backends_and_the_reference_scores_every_item() -> None:
    pytest.importorskip("bfcl_eval")
    from cm2.annotate.config import ReferenceLabelConfig
    from cm2.benchmarks.bfcl.dialogue import entry_to_dialogue
    from cm2.benchmarks.bfcl.environment import BfclEnvironment, load_entry, load_ground_truth

    entry, truth = load_entry("multi_turn_base_7"), load_ground_truth("multi_turn_base_7")
    entry["question"], truth = entry["question"][:1], truth[:1]
    labeling = ReferenceLabelConfig.model_validate({"final_reply_item": False, "turn_checks": "on"})
    dialogue = entry_to_dialogue(entry, truth, labeling=labeling)
    make_env = build_environments("bfcl")
    assert isinstance(make_env(dialogue), BfclEnvironment)
    runner = EpisodeRunner(ReferencePolicy([dialogue]), make_env, build_judge(JudgeConfig()), episode_config())
    trajectory = asyncio.run(runner.run(dialogue))
    assert trajectory.metadata["steps"][0]["tool_sources"] == ["executed"]
    items = {item.id for item in dialogue.checklists[0][0].items}
    assert {v.item for v in trajectory.verdicts if v.satisfied} == items  # state match included: real backends
