"""Scripted rollouts on BFCL's real backends, judged and scored like RL rollouts (shared by the reward-gaming
tests): a policy plays back fixed outputs, `BfclEnvironment` executes the calls and reports its state, the
checklist judge decides every item in code, and `cm2.scoring` turns the verdicts into rewards and advantages."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cm2.annotate.config import ReferenceLabelConfig
from cm2.benchmarks.bfcl.dialogue import entry_to_dialogue
from cm2.benchmarks.bfcl.environment import BfclEnvironment, load_entry, load_ground_truth
from cm2.judge import ChecklistJudge
from cm2.llm import LLMError
from cm2.llm.fake import ScriptedLLM
from cm2.reward import GroupScores, RewardConfig
from cm2.rollout.episode import EpisodeConfig, EpisodeLimitsConfig, EpisodeRunner
from cm2.rollout.policy import Generation, SamplingConfig
from cm2.schema import Dialogue, Message, ToolSpec, Trajectory
from cm2.scoring import score_group

REPLY = "<think>done</think>\n\nDone: the files are in place."


def call(name: str, **arguments: Any) -> str:
    """One policy output that makes one tool call."""
    body = json.dumps({"name": name, "arguments": arguments})
    return f"<think>next: {name}</think>\n<tool_call>{body}</tool_call>"


MALFORMED = '<think>try</think>\n<tool_call>{"name": "cd", "arguments": {"folder": </tool_call>'


class Script:
    """Plays back fixed assistant outputs (unit-test fake, not a model); runs out → a plain reply."""

    def __init__(self, outputs: list[str]):
        self.outputs = list(outputs)

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> Generation:
        return Generation(text=self.outputs.pop(0) if self.outputs else REPLY)


def bfcl_dialogue(entry_id: str, turns: int | None = None, **labeling: Any) -> Dialogue:
    """The reference dialogue of a BFCL entry (optionally its first `turns` turns), labeled as `import-bfcl` does."""
    entry = load_entry(entry_id)
    truth = load_ground_truth(entry_id)
    if turns is not None:
        entry["question"], truth = entry["question"][:turns], truth[:turns]
    options = ReferenceLabelConfig.model_validate({"final_reply_item": False, "turn_checks": "on", **labeling})
    return entry_to_dialogue(entry, truth, labeling=options)


def no_llm() -> ScriptedLLM:
    """A judge client that must never be asked: every item of these checklists is decided in code."""
    return ScriptedLLM(lambda request: LLMError("an LLM was asked; every item should be decided in code"))


def play(dialogue: Dialogue, outputs: list[str], *, max_steps: int = 4) -> Trajectory:
    """One episode of `outputs` on the dialogue's real BFCL backends, judged step by step."""
    limits = EpisodeLimitsConfig(max_turns=30, max_steps_per_turn=max_steps, max_context_tokens=100_000)
    config = EpisodeConfig(limits=limits, at_step_limit="next_turn", early_stop=False)
    entry_id = str((dialogue.model_extra or {})["bfcl_id"])
    runner = EpisodeRunner(
        Script(outputs), lambda d: BfclEnvironment.from_entry(entry_id), ChecklistJudge(no_llm()), config
    )
    trajectory = asyncio.run(runner.run(dialogue))
    assert all(v.source != "llm" for v in trajectory.verdicts)
    return trajectory


def group_scores(dialogue: Dialogue, trajectories: list[Trajectory], level: str) -> GroupScores:
    """Rewards and advantages of `trajectories` as one GRPO group, exactly as training computes them."""
    return score_group(dialogue, trajectories, RewardConfig.model_validate({"level": level}), drop_unavailable=True)
