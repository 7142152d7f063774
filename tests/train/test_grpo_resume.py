"""An RL run with LoRA carried on in two pieces through TRL's real trainer (tiny random model, CPU): the first
piece stops on its wall-clock budget after step 2 with a small checkpoint, the second resumes there and ends
at step 4, and the run reads as one: steps, learning rates, optimizer state, logs, probe and rollouts."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from rl_builders import tiny_rl_config

import cm2.train.grpo as grpo
from cm2.testing import RuleJudge, even_length
from cm2.tools import HybridToolSimulator
from cm2.train.best import BEST_DIR, BEST_FILE, forget_best_after, read_best
from cm2.train.probe import PROBE_FILE
from cm2.train.resume import latest_checkpoint, time_budget, trained_steps, trim_probe, trim_trajectories
from cm2.train.rl_config import RLRunConfig

# What a LoRA checkpoint holds: no base weights, no tokenizer (the model folder has it).
LORA_CHECKPOINT = {
    "adapter_config.json",
    "adapter_model.safetensors",
    "optimizer.pt",
    "scheduler.pt",
    "rng_state.pth",
    "trainer_state.json",
    "training_args.bin",
}


def _config(tmp_path: Path, model: Path, name: str) -> RLRunConfig:
    return tiny_rl_config(
        tmp_path,
        model,
        dialogues=4,
        max_steps=4,
        max_minutes=2.0,
        resume=True,
        learning_rate=5e-2,
        lr_scheduler="linear",
        warmup_ratio=0.25,
        output_dir=str(tmp_path / name),
        lora={"r": 4, "alpha": 8, "dropout": 0.0},
        probe={"every_steps": 2, "dialogues": 2},
        episode={"early_stop": False},
    )


def _minute_per_call() -> Any:
    """A clock that advances one minute each time it is read: a 2-minute budget ends a piece after 2 steps."""
    ticks = itertools.count()
    return lambda: 60.0 * next(ticks)


def _steps(out: Path) -> list[dict[str, Any]]:
    return [e for e in json.loads((out / "train_log.json").read_text()) if "loss" in e]


def _run(config: RLRunConfig) -> Path:
    return grpo.run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))


def _rollout_steps(out: Path) -> list[int]:
    lines = (out / "trajectories.jsonl").read_text().splitlines()
    return sorted(json.loads(line)["metadata"]["train_step"] for line in lines)


def test_a_lora_run_stopped_by_its_budget_resumes_where_it_stopped(
    tmp_path: Path, tiny_chatml_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    clock = _minute_per_call()
    monkeypatch.setattr(grpo, "time_budget", lambda minutes: time_budget(minutes, clock=clock))
    config = _config(tmp_path, tiny_chatml_model, "pieces")
    out = Path(config.output_dir)

    _run(config)  # piece 1: the budget ends it after step 2, short of max_steps
    first = latest_checkpoint(out)
    assert first is not None and first.name == "checkpoint-2" and trained_steps(out) == 2
    assert {p.name for p in first.iterdir()} == LORA_CHECKPOINT
    assert [e["step"] for e in _steps(out)] == [1, 2]
    # a killed piece would have left rollouts of a step after its checkpoint: they are dropped on resume
    with (out / "trajectories.jsonl").open("a") as sink:
        sink.write(json.dumps({"metadata": {"train_step": 3}}) + "\n" + '{"cut by the ki')

    _run(config)  # piece 2: resumes at step 2 and ends at max_steps
    assert trained_steps(out) == 4
    steps = _steps(out)
    assert [e["step"] for e in steps] == [1, 2, 3, 4]  # appended: none lost, none twice
    assert steps[2]["kl"] > 0  # step 3 started from the trained adapter, not a fresh (zero) one
    optimizer = torch.load(out / "checkpoint-4" / "optimizer.pt", weights_only=True)
    assert {int(s["step"]) for s in optimizer["state"].values()} == {4}  # Adam's moments carried on
    probe = [json.loads(line)["step"] for line in (out / PROBE_FILE).read_text().splitlines()]
    assert probe == [0, 2, 4]
    logged = [e["step"] for e in json.loads((out / "train_log.json").read_text()) if "probe_reward" in e]
    assert logged == [0, 2, 4]
    assert _rollout_steps(out) == [step for step in (1, 2, 3, 4) for _ in range(config.group_size)]

    # one uninterrupted run: the same learning rate at every step, the same tasks drawn
    monkeypatch.setattr(grpo, "time_budget", lambda minutes: time_budget(60.0))
    whole = Path(_config(tmp_path, tiny_chatml_model, "whole").output_dir)
    _run(_config(tmp_path, tiny_chatml_model, "whole"))
    assert [e["learning_rate"] for e in _steps(whole)] == [e["learning_rate"] for e in steps]
    assert len({e["learning_rate"] for e in steps}) >= 3  # warm-up then linear decay: the check can fail

    def tasks(folder: Path) -> list[tuple[int, str]]:
        lines = (folder / "trajectories.jsonl").read_text().splitlines()
        return sorted((t["metadata"]["train_step"], t["dialogue_uuid"]) for t in map(json.loads, lines))

    assert tasks(out) == tasks(whole)


def test_trim_trajectories_keeps_the_steps_up_to_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "trajectories.jsonl"
    rows = [{"metadata": {"train_step": step}} for step in (1, 1, 2, 3, 3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"metadata": {"tra')
    assert trim_trajectories(path, 2) == 3
    assert [json.loads(line)["metadata"]["train_step"] for line in path.read_text().splitlines()] == [1, 1, 2]
    assert trim_trajectories(path, 2) == 0 and trim_trajectories(tmp_path / "absent.jsonl", 0) == 0


def test_trim_probe_keeps_the_probes_up_to_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / PROBE_FILE
    path.write_text("".join(json.dumps({"step": step}) + "\n" for step in (0, 2, 4, 6)) + '{"st')
    assert trim_probe(path, 4) == 2
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [0, 2, 4]


def test_forget_best_after_drops_a_policy_kept_after_the_checkpoint(tmp_path: Path) -> None:
    (tmp_path / BEST_DIR).mkdir()
    (tmp_path / BEST_FILE).write_text(json.dumps({"step": 6, "score": 0.5, "on": "probe_reward"}))
    assert forget_best_after(tmp_path, 6) is None and read_best(tmp_path) is not None  # of the checkpoint's step
    assert forget_best_after(tmp_path, 4) == {"step": 6, "score": 0.5, "on": "probe_reward"}
    assert read_best(tmp_path) is None and not (tmp_path / BEST_DIR).exists()


def test_a_run_killed_between_checkpoints_resumes_from_the_newest_and_reads_as_one(
    tmp_path: Path, tiny_chatml_model: Path
) -> None:
    """A checkpoint every 2 steps (the newest two kept); the machine is taken back after step 3, so checkpoint-2
    is the newest to survive, beside the rollouts, probes and kept policy of step 3. The resumed piece trains
    step 3 again: every step's rollouts and probe are there once, and the kept policy is one of the run's."""
    config = _config(tmp_path, tiny_chatml_model, "killed").model_copy(
        update={"max_minutes": None, "save_steps": 2, "save_total_limit": 2}
    )
    config = config.model_copy(update={"probe": config.probe.model_copy(update={"every_steps": 1, "keep_best": True})})
    out = Path(config.output_dir)
    _run(config)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    # what the machine held after step 3: checkpoint-4 never written, step 4's lines not yet either
    shutil.rmtree(out / "checkpoint-4")
    trim_trajectories(out / "trajectories.jsonl", 3)
    trim_probe(out / PROBE_FILE, 3)
    (out / BEST_FILE).write_text(json.dumps({"step": 3, "score": 99.0, "on": "probe_reward"}))  # unbeatable

    with pytest.warns(UserWarning, match="kept policy of step 3 came after checkpoint 2"):
        _run(config)
    assert trained_steps(out) == 4
    assert [e["step"] for e in _steps(out)] == [1, 2, 3, 4]
    probe = [json.loads(line)["step"] for line in (out / PROBE_FILE).read_text().splitlines()]
    assert probe == [0, 1, 2, 3, 4]
    assert _rollout_steps(out) == [step for step in (1, 2, 3, 4) for _ in range(config.group_size)]
    best = read_best(out)
    assert best is not None and best["score"] < 99.0  # the killed piece's kept policy is gone
