"""Realistic inputs for the report tests, produced by cm2's real pieces.

Episodes on the shipped reference dialogue (real checklist: weights, dependencies, required items)
are run by `EpisodeRunner` with a scripted chat policy, the real hybrid tool simulator (replayed
answers, schema errors, LLM-simulated answers from a scripted LLM) and the real `ChecklistJudge`
(batched prompts answered by a scripted LLM that reads the transcript). Rewards are scored with
`cm2.reward` like the trainer does, and the run directory is written the way `run_rl` writes it.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from cm2.data import JsonlAppender
from cm2.eval.replay_policies import reference_outputs
from cm2.judge import ChecklistJudge, JudgeConfig
from cm2.llm import ChatRequest
from cm2.llm.fake import ScriptedLLM
from cm2.reward import RewardConfig
from cm2.rollout.episode import EpisodeConfig, EpisodeRunner
from cm2.schema import Dialogue, Trajectory
from cm2.scoring import score_group
from cm2.testing import ScriptedPolicy, judge_prompt
from cm2.tools import HybridToolSimulator

XSS = "<img src=x onerror=alert(1)>"
SCRIPT_BREAK = "</script><script>alert(2)</script>"
TOOL = "get_the_last_games_of_a_football_team"


def call(arguments: dict[str, Any], think: str = "look it up") -> str:
    return f"<think>{think}</think>\n<tool_call>{json.dumps({'name': TOOL, 'arguments': arguments})}</tool_call>"


def reply(text: str, think: str = "answer") -> str:
    return f"<think>{think}</think>\n\n{text}"


def variant_outputs(dialogue: Dialogue, variant: str) -> list[str]:
    """The assistant steps a scripted rollout plays, by name.

    reference: the reference dialogue's steps (tool answers replayed); early: replies without calling the
    tool (required items fail, the episode stops after turn 0); simulated: another team (answer written by
    the simulator LLM) with a reply before the evidence (items satisfied too early earn nothing) and a missed
    item in the last turn; schema: a wrong argument type (error answer, tool_error verdicts),
    then a flaky step the judge cannot answer; xss: markup and a script break in the text.
    """
    ref = reference_outputs(dialogue)
    if variant == "reference":
        return ref
    if variant == "early":
        return [reply("NOPE, I would rather not look anything up.")]
    if variant == "simulated":
        first = call({"teamid": "Oregon Ducks"}) + "\nLet me check that for you."
        return [first, reply("Here is what I found."), ref[2], ref[3] + " MISS:C1"]
    if variant == "schema":
        return [call({"teamid": 7}), ref[1], reply("FLAKY guidance"), ref[3]]
    if variant == "xss":
        return [ref[0], reply(f"{XSS} {SCRIPT_BREAK} numeric team ID needed", think=SCRIPT_BREAK), ref[2], ref[3]]
    raise ValueError(variant)


def judge_answer(request: ChatRequest) -> str:
    """Scripted judge model: reads the transcript's last assistant record; NOPE fails everything, MISS:<id>
    fails that item, FLAKY gets an unusable answer (so the verdict is unavailable)."""
    transcript, criteria = judge_prompt(str(request.messages[-1]["content"]))
    last = json.dumps([record for record in transcript if record["role"] == "assistant"][-1])
    if "FLAKY" in last:
        return "I cannot decide."
    verdicts = [
        {"id": c["id"], "analysis": "read the step", "satisfied": "NOPE" not in last and f"MISS:{c['id']}" not in last}
        for c in criteria
    ]
    return json.dumps({"verdicts": verdicts})


def simulator_answer(request: ChatRequest) -> str:
    return json.dumps({"games": [{"opponent": "Stanford", "score": "31-24"}]})


def make_judge() -> ChecklistJudge:
    return ChecklistJudge(ScriptedLLM(judge_answer), JudgeConfig(mode="batched", cache_size=0))


async def run_variants(dialogue: Dialogue, variants: list[str], group: str | None) -> list[Trajectory]:
    judge = make_judge()
    out = []
    for rollout, variant in enumerate(variants):
        runner = EpisodeRunner(
            ScriptedPolicy(variant_outputs(dialogue, variant), when_done=reply("That is all.")),
            lambda d: HybridToolSimulator(d, ScriptedLLM(simulator_answer)),
            judge,
            EpisodeConfig(),
        )
        out.append(await runner.run(dialogue, checklist=0, rollout=rollout, group=group))
    return out


def score_like_trainer(dialogue: Dialogue, group: list[Trajectory], config: RewardConfig) -> None:
    """Set `rewards` the way `cm2.train.rollouts.CM2Rollouts.score` does."""
    scores = score_group(dialogue, group, config, drop_unavailable=True)
    for i, trajectory in enumerate(group):
        trajectory.rewards = {
            "trajectory": float(scores.rewards[i]),
            "turns": scores.turn_rewards[i],
            "valid": bool(scores.valid[i]),
        }


SCHEDULE = [
    ["early", "early", "schema", "simulated"],
    ["early", "schema", "simulated", "xss"],
    ["early", "simulated", "reference", "schema"],
    ["simulated", "reference", "xss", "early"],
    ["reference", "reference", "simulated", "xss"],
    ["reference", "reference", "reference", "simulated"],
]
"""Variants of the 4 rollouts of each of 6 training steps: the policy 'improves' over training."""


def run_steps(dialogue: Dialogue, steps: int, config: RewardConfig) -> list[list[Trajectory]]:
    """The groups of `steps` training steps, labelled like the trainer labels them (uuid:checklist:index)."""
    label = f"{dialogue.uuid}:0:0"
    groups = []
    for step in range(steps):
        group = asyncio.run(run_variants(dialogue, SCHEDULE[step % len(SCHEDULE)], label))
        score_like_trainer(dialogue, group, config)
        groups.append(group)
    return groups


def trl_log(groups: list[list[Trajectory]]) -> list[dict[str, Any]]:
    """A `log_history` shaped like TRL's GRPOTrainer's (the per-step numbers follow the rollouts)."""
    history: list[dict[str, Any]] = []
    for step, group in enumerate(groups, start=1):
        rewards = [t.rewards["trajectory"] for t in group]
        mean = sum(rewards) / len(rewards)
        stopped = sum(t.stop_reason == "required_item_failed" for t in group) / len(group)
        history.append(
            {
                "loss": 0.01 * step,
                "grad_norm": 0.5,
                "learning_rate": 3e-6,
                "num_tokens": 1000.0 * step,
                "reward": mean,
                "reward_std": float((sum((r - mean) ** 2 for r in rewards) / len(rewards)) ** 0.5),
                "kl": 0.001 * step,
                "entropy": 1.2,
                "cm2/early_stop_rate": stopped,
                "cm2/turns_reached": 2.0,
                "step_time": 1.5,
                "epoch": step / len(groups),
                "step": step,
            }
        )
    history.append({"train_runtime": 10.0, "train_loss": 0.02, "epoch": 1.0, "step": len(groups)})
    return history


def write_tensorboard(folder: Path, history: list[dict[str, Any]]) -> None:
    """Write the log entries as TensorBoard scalars with the tags transformers' TensorBoardCallback uses
    (`train/<key>`), through tensorboard's event writer (the one torch's SummaryWriter wraps)."""
    import time

    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(folder))
    for entry in history:
        values = [
            summary_pb2.Summary.Value(tag=f"train/{key}", simple_value=value)
            for key, value in entry.items()
            if key not in ("step", "epoch") and isinstance(value, float)
        ]
        writer.add_event(
            event_pb2.Event(step=entry["step"], wall_time=time.time(), summary=summary_pb2.Summary(value=values))
        )
    writer.close()


def write_run(
    out: Path,
    groups: list[list[Trajectory]],
    data: Path,
    *,
    level: str = "trajectory",
    crashed: bool = False,
    tensorboard: bool = False,
) -> Path:
    """A run directory as `run_rl` leaves it; `crashed`: no train_log.json, a checkpoint halfway, a torn last line."""
    from cm2.train.rl_config import RLRunConfig

    out.mkdir(parents=True, exist_ok=True)
    config = RLRunConfig.model_validate(
        {
            "model": {"path": "tiny"},
            "data": str(data),
            "output_dir": str(out),
            "group_size": 4,
            "reward": {"level": level},
            "report_to": ["tensorboard"] if tensorboard else [],
        }
    )
    (out / "rl_config.json").write_text(config.model_dump_json(indent=2), encoding="utf-8")
    with JsonlAppender(out / "trajectories.jsonl", fsync_every=0) as sink:
        for group in groups:
            for trajectory in group:
                sink.write(trajectory.dump())
    history = trl_log(groups)
    if crashed:
        half = len(groups) // 2
        checkpoint = out / f"checkpoint-{half}"
        checkpoint.mkdir()
        state = {"global_step": half, "log_history": [e for e in history if e["step"] <= half and "loss" in e]}
        (checkpoint / "trainer_state.json").write_text(json.dumps(state), encoding="utf-8")
        with open(out / "trajectories.jsonl", "ab") as handle:
            handle.write(b'{"dialogue_uuid": "torn", "messages": [{"role": "us')
    else:
        (out / "train_log.json").write_text(json.dumps(history, indent=2), encoding="utf-8")
    if tensorboard:
        entries = [e for e in history if "loss" in e]
        write_tensorboard(out / "runs" / "host", entries[:-1] if crashed else entries)
    return out


def write_dialogues(path: Path, dialogues: list[Dialogue]) -> Path:
    path.write_text("".join(json.dumps(d.dump()) + "\n" for d in dialogues), encoding="utf-8")
    return path


@dataclass(frozen=True)
class CliReport:
    """What one `cm2 report` invocation returned and where its page is."""

    exit_code: int
    output: str
    html: Path


def invoke_cli(*args: str) -> Any:
    """Run `cm2 report` / `cm2 view` (or any other verb) in process."""
    from typer.testing import CliRunner

    from cm2.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def missing_browser(why: str) -> NoReturn:
    """Fail a browser test for want of a browser, or skip it when CM2_SKIP_BROWSER=1 asks for that."""
    if os.environ.get("CM2_SKIP_BROWSER") == "1":
        pytest.skip(f"{why} (skipped: CM2_SKIP_BROWSER=1)")
    pytest.fail(f"{why}; set CM2_SKIP_BROWSER=1 to skip the browser tests on this machine", pytrace=False)


def chromium_path() -> str | None:
    """The Chromium to test with: $CM2_CHROMIUM when set (None if it does not exist), else Debian's `chromium`."""
    chosen = os.environ.get("CM2_CHROMIUM")
    candidates = [chosen] if chosen is not None else ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
    return next((c for c in candidates if c and Path(c).is_file()), None)
