"""Perfect, refusing and flailing policies on the demo train split: what the checklist reward pays each.

Every episode runs through cm2's own episode runner on BFCL's real backends (CPU), judged by the checklist
judge with every item decided in code, and scored as RL scores it (trajectory level). Dialogues come from
`cm2 data import-bfcl --split train` (imported here into a temporary folder unless `--data` names a file).
Each policy is scored under the checklists `import-bfcl` writes now (call items plus the turn-end items: a
visible reply, the call budget, BFCL's state check) and under call items only (what it wrote before issue 13).

Policies, per turn: perfect = the reference calls then a reply; refusing = a reply, never a call; extra call =
the reference calls, the last one again, then a reply; never ending = the reference calls, then the last one
again until the step limit cuts the turn; malformed retry = one unparseable call first, then as perfect;
partial = the reference calls but the last, then a reply (an honest miss); partial, retried = the same miss,
with the turn's first call made twice more in place of the last; partial, guessed = the same miss, with a call to
a tool the dialogue's reference never calls in place of the last (within the call budget; both compared with
partial, not perfect); failed, recovered = the turn's first call with an argument its tool does not take (the
tool reports an error), then as perfect; failed, gave up = that failed call, then a reply (compared with failed,
recovered: a recovery should earn more than giving up); extra argument = each reference call with one optional
argument it did not pass, set to a placeholder (as RL's held-out calls added `mentions` or `tags`; run 13).
Checklists "no extra arguments" are those of now with call items that fail such a call
(`ReferenceLabelConfig.extra_arguments: false`).

    python benchmarks/reward_perfect_policy.py                # all 159 train dialogues, 20 steps a turn
    python benchmarks/reward_perfect_policy.py --max-steps 4 --max-turns 3   # the RL limits of the experiment
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cm2.annotate.config import ReferenceLabelConfig, TurnCheckConfig
from cm2.annotate.reference import label_from_reference
from cm2.benchmarks.bfcl.data import ImportOptions, import_bfcl
from cm2.benchmarks.bfcl.environment import BfclEnvironment
from cm2.data.io import read_dialogues
from cm2.judge import ChecklistJudge
from cm2.llm import LLMError
from cm2.llm.fake import ScriptedLLM
from cm2.reward import RewardConfig
from cm2.rollout.episode import EpisodeConfig, EpisodeLimitsConfig, EpisodeRunner
from cm2.rollout.policy import Generation, SamplingConfig
from cm2.schema import Dialogue, Message, ToolSpec, Trajectory
from cm2.scoring import score_trajectory

REPLY = "<think>done</think>\n\nDone."
MALFORMED = '<think>try</think>\n<tool_call>{"name": "ls", "arguments": </tool_call>'


def policy_output(body: dict[str, Any]) -> str:
    """A policy output making the call `body` (`{"name", "arguments"}`), with a short thought."""
    return f"<think>{body['name']}</think>\n<tool_call>{json.dumps(body)}</tool_call>"


def call_body(output: str) -> dict[str, Any]:
    """The call of a `policy_output`."""
    body: dict[str, Any] = json.loads(output.split("<tool_call>")[1].removesuffix("</tool_call>"))
    return body


def guess_for(dialogue: Dialogue, calls: list[str]) -> list[str]:
    """One call, without arguments, to a tool of the dialogue that its reference never calls (a guess); none
    for a turn that makes no call."""
    called = {call.name for message in dialogue.messages for call in message.calls}
    other = next((tool.name for tool in dialogue.tools if tool.name not in called), None)
    if not calls or other is None:
        return []
    return [policy_output({"name": other, "arguments": {}})]


def failing(calls: list[str]) -> list[str]:
    """The turn's first call again with an argument no tool takes, so that the tool reports an error; none for a
    turn that makes no call."""
    if not calls:
        return []
    body = call_body(calls[0])
    body["arguments"] = {**body["arguments"], "no_such_argument": 0}
    return [policy_output(body)]


_PLACEHOLDERS = {"string": "x", "integer": 1, "number": 1.0, "boolean": True, "array": ["x"], "object": {}}


def with_extra_argument(dialogue: Dialogue, calls: list[str]) -> list[str]:
    """The calls, each with the first optional argument of its tool that it does not pass, set to a placeholder
    of the argument's type unlike its default (unchanged where the tool has none)."""
    specs = {tool.name: tool.dump()["function"].get("parameters", {}) for tool in dialogue.tools}
    out = []
    for output in calls:
        body = call_body(output)
        parameters = specs.get(body["name"], {})
        required = set(parameters.get("required", []))
        for name, spec in parameters.get("properties", {}).items():
            value = _PLACEHOLDERS.get(spec.get("type", "string"), "x")
            if name not in required and name not in body["arguments"]:
                body["arguments"][name] = (
                    (not spec["default"]) if spec.get("type") == "boolean" and "default" in spec else value
                )
                break
        out.append(policy_output(body))
    return out


def turn_calls(dialogue: Dialogue) -> list[list[str]]:
    """Per turn, the reference's calls as policy outputs (one call a step, as the reference makes them)."""
    out = []
    for turn in dialogue.turns():
        outputs = []
        for step in turn.steps:
            for call in step.calls:
                body = {"name": call.name, "arguments": call.function.parsed_arguments()}
                outputs.append(policy_output(body))
        out.append(outputs)
    return out


Policy = Callable[[Dialogue, list[str], int], list[str]]
POLICIES: dict[str, Policy] = {
    "perfect": lambda d, calls, limit: [*calls, REPLY],
    "refusing": lambda d, calls, limit: [REPLY],
    "extra call": lambda d, calls, limit: [*calls, *calls[-1:], REPLY],
    "never ending": lambda d, calls, limit: [*calls, *(calls[-1:] * limit)] if calls else [REPLY],
    "malformed retry": lambda d, calls, limit: [MALFORMED, *calls, REPLY],
    "partial": lambda d, calls, limit: [*calls[:-1], REPLY],
    "partial, retried": lambda d, calls, limit: [*calls[:-1], *(calls[:1] * 2 if len(calls) > 1 else []), REPLY],
    "partial, guessed": lambda d, calls, limit: [*calls[:-1], *guess_for(d, calls), REPLY],
    "failed, recovered": lambda d, calls, limit: [*failing(calls), *calls, REPLY],
    "failed, gave up": lambda d, calls, limit: [*failing(calls), REPLY],
    "extra argument": lambda d, calls, limit: [*with_extra_argument(d, calls), REPLY],
}
CLEAN = {"partial, retried": "partial", "partial, guessed": "partial", "failed, gave up": "failed, recovered"}
"""The clean policy each one is compared with (the perfect one unless named here)."""


class TurnScript:
    """Plays fixed outputs per turn (benchmark fake, not a model); a turn's queue run dry → a reply."""

    def __init__(self, per_turn: list[list[str]]):
        self.per_turn = [list(outputs) for outputs in per_turn]

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> Generation:
        turn = sum(m.role == "user" for m in messages) - 1
        queue = self.per_turn[turn]
        return Generation(text=queue.pop(0) if queue else REPLY)


def no_llm() -> ScriptedLLM:
    return ScriptedLLM(lambda request: LLMError("every item of these checklists is decided in code"))


def reward(dialogue: Dialogue, trajectory: Trajectory) -> float:
    return score_trajectory(dialogue, trajectory, RewardConfig()).reward()


async def play(dialogue: Dialogue, outputs: list[list[str]], config: EpisodeConfig) -> Trajectory:
    entry = str((dialogue.model_extra or {}).get("bfcl_id") or dialogue.uuid)
    runner = EpisodeRunner(
        TurnScript(outputs), lambda d: BfclEnvironment.from_entry(entry), ChecklistJudge(no_llm()), config
    )
    return await runner.run(dialogue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="BFCL dialogues from `cm2 data import-bfcl` (default: import now)")
    parser.add_argument("--limit", type=int, help="only the first N dialogues")
    parser.add_argument("--max-steps", type=int, default=20, help="steps per turn (BFCL's own limit is 20)")
    parser.add_argument("--max-turns", type=int, default=30)
    parser.add_argument("--at-step-limit", choices=["next_turn", "end_episode"], default="next_turn")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = args.data
        if data is None:
            data = Path(folder) / "train.jsonl"
            import_bfcl(data, ImportOptions(split="train"), progress=False)
        dialogues = list(read_dialogues(data))[: args.limit]
    limits = EpisodeLimitsConfig(max_turns=args.max_turns, max_steps_per_turn=args.max_steps, max_context_tokens=10**6)
    config = EpisodeConfig(limits=limits, at_step_limit=args.at_step_limit, early_stop=False)
    calls_only = ReferenceLabelConfig(final_reply_item=False, turn_checks=TurnCheckConfig(mode="off"))
    strict = ReferenceLabelConfig(final_reply_item=False, turn_checks=TurnCheckConfig(mode="on"), extra_arguments=False)
    labelings = {
        "now": dialogues,
        "call items only": [label_from_reference(d, calls_only) for d in dialogues],
        "no extra arguments": [label_from_reference(d, strict) for d in dialogues],
    }
    print(
        f"{len(dialogues)} dialogues, {args.max_turns} turns x {args.max_steps} steps, at the limit: "
        f"{args.at_step_limit}"
    )
    print(f"{'policy':<18}{'checklists':<20}{'mean R':>8}{'R = 1':>8}{'R = 0':>8}  vs clean (lower / higher)")
    started = time.perf_counter()
    seen: dict[tuple[str, str], np.ndarray] = {}
    for name, make in POLICIES.items():
        outputs = [[make(d, calls, args.max_steps) for calls in turn_calls(d)] for d in dialogues]
        for label, labeled in labelings.items():
            trajectories = [asyncio.run(play(d, o, config)) for d, o in zip(labeled, outputs, strict=True)]
            rewards = np.asarray([reward(d, t) for d, t in zip(labeled, trajectories, strict=True)])
            seen[name, label] = rewards
            clean = CLEAN.get(name, "perfect")
            relation = ""
            if name != "perfect":
                lower = (rewards < seen[clean, label] - 1e-9).sum()
                higher = (rewards > seen[clean, label] + 1e-9).sum()
                relation = f"{clean}: {lower} / {higher} of {len(rewards)}"
            print(
                f"{name:<18}{label:<20}{rewards.mean():>8.3f}{(rewards > 1 - 1e-9).sum():>8}"
                f"{(rewards < 1e-9).sum():>8}  {relation}"
            )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
