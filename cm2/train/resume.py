"""An RL run carried on in pieces: where the last piece stopped, small checkpoints, and outputs that continue.

A piece ends on its wall-clock budget (`max_minutes`) with a checkpoint of that very step (`time_budget`), or is
killed and resumes from its last checkpoint. With LoRA a checkpoint holds the adapter, the optimizer and
scheduler state, the RNG states and `trainer_state.json` (its log history included): `slim_checkpoints` leaves
the tokenizer out, since the run's model folder has it. Rollouts of steps after the checkpoint, written by a
killed piece, are dropped from `trajectories.jsonl` on resume (`trim_trajectories`), and so are its probes
(`trim_probe`) and a policy it kept as the best (`resume_at`), so every step is there once. A run saving a
checkpoint every few steps (`save_steps`) can so lose at most those steps to a kill, or to a machine taken back.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cm2.data.atomic import atomic_file

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_MODEL_CARD = "README.md"  # peft writes one into every adapter checkpoint


def latest_checkpoint(out: Path) -> Path | None:
    """The trainer checkpoint of the highest step under `out` that has its `trainer_state.json` (written last,
    so a checkpoint cut short by a kill is passed over)."""
    found = [
        (int(match.group(1)), path)
        for path in out.glob("checkpoint-*")
        if (match := _CHECKPOINT.match(path.name)) and (path / "trainer_state.json").is_file()
    ]
    return max(found)[1] if found else None


def checkpoint_step(checkpoint: Path) -> int:
    """The optimizer step a checkpoint was saved at."""
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state["global_step"])


def trained_steps(out: Path) -> int:
    """Optimizer steps done by the run in `out` (0 before its first checkpoint)."""
    checkpoint = latest_checkpoint(out)
    return checkpoint_step(checkpoint) if checkpoint is not None else 0


def time_budget(minutes: float, clock: Callable[[], float] = time.monotonic) -> Any:
    """A trainer callback that ends training after the step during which `minutes` of wall-clock time ran
    out (counted from the start of this piece) and saves a checkpoint of that step, so the next piece
    (`resume: true`) goes on from exactly there."""
    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        started = 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = clock()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if clock() - self.started >= minutes * 60:
                control.should_training_stop = True
                control.should_save = True

    return TimeBudget()


def tokenizer_files(tokenizer: Any) -> set[str]:
    """Names of the files `tokenizer.save_pretrained` writes."""
    with tempfile.TemporaryDirectory() as folder:
        return {Path(name).name for name in tokenizer.save_pretrained(folder) if name}


def slim_checkpoints(out: Path, drop: set[str]) -> Any:
    """A trainer callback that removes `drop` (file names: the tokenizer's, a model card) from each checkpoint
    under `out` once saved; the trainer never reads them back on resume."""
    from transformers import TrainerCallback

    class SlimCheckpoints(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            folder = out / f"checkpoint-{state.global_step}"
            for name in drop:
                path = folder / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.is_file():
                    path.unlink()

    return SlimCheckpoints()


def checkpoint_drops(tokenizer: Any, *, lora: bool) -> set[str]:
    """What `slim_checkpoints` removes: the tokenizer's files, and peft's model card with LoRA."""
    return tokenizer_files(tokenizer) | ({_MODEL_CARD} if lora else set())


def resume_at(out: Path, trajectories: Path, step: int) -> None:
    """Before a piece resumes from the checkpoint of `step`: drop what a killed piece wrote after it (rollouts,
    probes, a kept policy), since this piece trains those steps again."""
    from cm2.train.best import forget_best_after
    from cm2.train.probe import PROBE_FILE  # here: the probe module pulls in the rollout machinery

    trim_trajectories(trajectories, step)
    trim_probe(out / PROBE_FILE, step)
    forgotten = forget_best_after(out, step)
    if forgotten is not None:
        warnings.warn(
            f"{out}: the kept policy of step {forgotten['step']} came after checkpoint {step} and is dropped; "
            "the run keeps a best again from its next probe",
            stacklevel=2,
        )


def trim_trajectories(path: Path, step: int) -> int:
    """Drop the rollouts of optimizer steps after `step` (a killed piece ran them after its last checkpoint;
    the resumed piece runs those steps again). Rewrites `path` atomically; returns how many were dropped."""
    return _trim_rows(path, step, lambda row: row.get("metadata", {}).get("train_step"))


def trim_probe(path: Path, step: int) -> int:
    """Drop the probe lines of steps after `step`, as `trim_trajectories` does rollouts: a piece resumed from
    an earlier checkpoint than its last probe would otherwise leave that probe's numbers, of a policy no
    longer in the run, until it probes the step again."""
    return _trim_rows(path, step, lambda row: row.get("step"))


def _trim_rows(path: Path, step: int, step_of: Callable[[Any], Any]) -> int:
    if not path.is_file():
        return 0
    kept: list[str] = []
    dropped = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row_step = step_of(json.loads(line))
        except (json.JSONDecodeError, AttributeError):
            dropped += 1  # a line cut by the kill
            continue
        if isinstance(row_step, int) and row_step > step:
            dropped += 1
        else:
            kept.append(line)
    if dropped:
        with atomic_file(path) as tmp:
            tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    return dropped
