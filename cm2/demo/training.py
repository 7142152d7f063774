"""The training stages of the demo: cold-start SFT, then GRPO on BFCL's real backends (`tools: bfcl`)."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cm2.data import JsonlAppender
from cm2.data.atomic import atomic_file
from cm2.demo.config import DemoConfig, RLData
from cm2.reward.config import Level

log = logging.getLogger(__name__)
PIECES_FILE = "pieces.jsonl"
"""One line per run of an RL stage (a piece): the steps it went from and to, and its wall-clock seconds."""


@contextlib.contextmanager
def bf16_generation(enabled: bool, use_cpu: bool) -> Iterator[None]:
    """Compute in bfloat16 around a whole RL run when its config asks for bf16.

    The trainer already runs its forward passes under autocast; the rollouts' `generate` calls do not, and
    in float32 they take 1.7x as long on a 2-core AVX-512 CPU (benchmarks/demo_precision.py). Rollouts then
    sample with the same precision the loss sees. Optimizer updates stay in float32 (autocast leaves them).
    """
    if not enabled:
        yield
        return
    import torch

    device = "cuda" if torch.cuda.is_available() and not use_cpu else "cpu"
    with torch.autocast(device, dtype=torch.bfloat16):
        yield


def drop_checkpoints(folder: Path) -> int:
    """Remove the trainer's `checkpoint-*` folders once a stage has finished: the stage keeps `final/` only.

    The HF trainer saves one at the end of training even when `save_steps` is never reached; with
    Gemma-3-270M that is 3 GB (weights and optimizer state) per stage, and a finished stage never
    resumes from it (it reruns as a whole).
    """
    import shutil

    dropped = 0
    for checkpoint in folder.glob("checkpoint-*"):
        if checkpoint.is_dir():
            shutil.rmtree(checkpoint)
            dropped += 1
    return dropped


def with_recovery(config: DemoConfig, data: Path, folder: Path) -> tuple[Path, dict[str, int]]:
    """SFT's dialogues followed by `config.sft_recovery` recovery variants of each (played in RL's tool
    environment), written next to the run; and what came of the turns tried."""
    from cm2.build import build_environments
    from cm2.data.io import read_dialogues
    from cm2.data.jsonl import write_jsonl
    from cm2.train.recovery import add_recovery

    dialogues = list(read_dialogues(data))
    environments = build_environments(str(config.rl.get("tools", "simulated")))
    joined, report = add_recovery(dialogues, environments, per_dialogue=config.sft_recovery, seed=config.seed)
    path = folder / "sft_train_with_recovery.jsonl"
    write_jsonl(path, [d.dump() for d in joined])
    return path, report.summary()


def sft_stage(config: DemoConfig, model: str, data: Path, folder: Path) -> dict[str, Any]:
    """Cold-start SFT on the filtered train dialogues; the model lands in `folder/final`."""
    from cm2.demo.sft_selection import save_every, select_checkpoint, split_train
    from cm2.train.sft import run_sft

    selection = config.sft_selection
    validation = rl = None
    if selection.val_dialogues or selection.rl_dialogues:
        data, validation, rl = split_train(data, folder, selection.val_dialogues, selection.rl_dialogues)
    dialogues, recovery = data, dict[str, int]()  # RL reads SFT's dialogues without the recovery variants
    if config.sft_recovery:
        data, recovery = with_recovery(config, data, folder)
    run = config.sft_run(model, str(data), str(folder))
    if validation is not None:
        from cm2.data.io import read_dialogues

        every = save_every(run, sum(1 for _ in read_dialogues(data)), selection.checkpoints)
        run = run.model_copy(update={"save_steps": every, "save_total_limit": None})
    result = run_sft(run)
    chosen = select_checkpoint(config, folder, validation) if validation is not None else {}
    if validation is not None:  # RL leaves the slice out too and probes it (`rl_data`)
        chosen |= {"train_data": str(dialogues), "validation_data": str(validation)}
    if rl is not None:
        chosen |= {"rl_data": str(rl)}
    drop_checkpoints(folder)
    return {
        "final": result.final_dir,
        **chosen,
        "steps": result.global_step,
        "train_loss": result.train_loss,
        "added_tokens": result.added_tokens,
        "data": result.data,
        **({"recovery": recovery} if recovery else {}),
    }


def _log_rewards(folder: Path) -> list[float]:
    path = folder / "train_log.json"
    if not path.is_file():
        return []
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [float(e["reward"]) for e in entries if isinstance(e, dict) and "reward" in e]


def rl_data(
    sft: dict[str, Any], data: Path, train_on: RLData = "rl_split", folder: Path | None = None
) -> tuple[Path, str | None]:
    """RL's train file and probe file from the SFT stage's outputs. RL trains on its own dialogues when SFT held
    some out for it (`rl_dialogues`; with `train_on` all, on those and SFT's, written to `folder`), else on SFT's
    train dialogues when there is a validation slice, else on `data`; it probes the validation slice (unseen by
    SFT and RL) when there is one, else its train file."""
    probe = str(sft["validation_data"]) if sft.get("validation_data") else None
    if sft.get("rl_data") and train_on == "all":
        if folder is None:
            raise ValueError("rl_data all: name the folder the joined train file goes to")
        joined = folder / "rl_and_sft_train.jsonl"
        parts = [Path(sft["rl_data"]).read_text(encoding="utf-8"), Path(sft["train_data"]).read_text(encoding="utf-8")]
        with atomic_file(joined) as tmp:
            tmp.write_text(
                "".join(part if part.endswith("\n") else part + "\n" for part in parts if part), encoding="utf-8"
            )
        return joined, probe
    if sft.get("rl_data"):
        return Path(sft["rl_data"]), probe
    if probe is not None:
        return Path(sft["train_data"]), probe
    return data, None


def rl_stage(
    config: DemoConfig, model: str, data: Path, folder: Path, level: Level, probe_data: str | None = None
) -> dict[str, Any]:
    """GRPO with checklist rewards from the SFT model; every rollout calls BFCL's backends for real.

    The run resumes from its last checkpoint in `folder` (the stage runner keeps the folder only when it was
    started with the same settings). A run that stops on its time budget before `max_steps` keeps that
    checkpoint and raises `StageUnfinished` (the next run of the pipeline carries it on), or with
    `rl_budget: end` finishes there."""
    from cm2.demo.stages import StageUnfinished
    from cm2.train.resume import latest_checkpoint, trained_steps
    from cm2.train.rl_config import ProbeConfig
    from cm2.train.rl_run import run_rl_from_config

    saving = {"save_steps": config.rl_checkpoint_every, "save_total_limit": 2} if config.rl_checkpoint_every else {}
    run = config.rl_run(model, str(data), str(folder), level).model_copy(update={"resume": True, **saving})
    if probe_data is not None:  # a validation slice: scored on BFCL's own numbers too, and kept by them
        validation = ProbeConfig.model_validate(run.probe.model_dump() | {"data": probe_data, "metric": "bfcl"})
        run = run.model_copy(update={"probe": validation})
    first_step, started = trained_steps(folder), time.perf_counter()
    with bf16_generation(run.bf16, run.use_cpu):
        final = run_rl_from_config(run)
    steps = trained_steps(folder)
    piece = {"from_step": first_step, "to_step": steps, "seconds": round(time.perf_counter() - started, 1)}
    with JsonlAppender(folder / PIECES_FILE) as sink:  # the stage's own time covers its last piece only
        sink.write(piece)
    if steps < run.max_steps and config.rl_budget == "pause":
        raise StageUnfinished(
            f"{folder.name}: stopped on its time budget at step {steps} of {run.max_steps}; "
            f"{latest_checkpoint(folder)} is kept: run the same command again to carry it on"
        )
    drop_checkpoints(folder)
    rewards = _log_rewards(folder)
    from cm2.train.best import LAST_DIR, read_best
    from cm2.train.probe import PROBE_FILE, read_probe

    probes = read_probe(folder / PROBE_FILE)
    probe = {str(r["step"]): r["probe_reward"] for r in probes}
    validated = {str(r["step"]): r["validation"] for r in probes if "validation" in r}
    best = read_best(folder) if run.probe.keep_best else None
    pieces = _read_pieces(folder / PIECES_FILE)
    last = folder / LAST_DIR
    return {
        "final": str(final),
        "last": str(last if last.is_dir() else final),  # the policy after the last step (`rl_last` evaluates it)
        "level": level,
        "steps": len(rewards),
        "max_steps": run.max_steps,
        "stopped_on_budget": steps < run.max_steps,
        "group_size": run.group_size,
        "mean_reward_per_step": rewards,
        "probe_reward_by_step": probe,
        "probe_data": run.probe.data,
        "probe_validation_by_step": validated,
        "kept_step": best["step"] if best else None,  # the final model's step (`probe.keep_best`), else the last
        "kept_on": best.get("on") if best else None,
        "trajectories": str(folder / run.trajectories_file),
        "pieces": pieces,
        "seconds_all_pieces": round(sum(p["seconds"] for p in pieces), 1),
    }


def _read_pieces(path: Path) -> list[dict[str, Any]]:
    pieces = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            pieces.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a kill
    return pieces
