"""The trainer's per-step metrics, from whatever a run left behind.

`train_log.json` is written only when training ends; a run that crashed has its log history in the
newest `checkpoint-*/trainer_state.json` and, with TensorBoard enabled, in `runs/**/events.out.tfevents.*`
(which also covers the steps after the last checkpoint). All three are merged per step, the most
complete source first.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

Metrics = dict[str, float]


class MetricLog(BaseModel):
    """Trainer metrics by optimizer step (TRL's names: reward, loss, kl, cm2/early_stop_rate, eval_reward …)."""

    steps: dict[int, Metrics] = Field(default_factory=dict)
    sources: list[str] = Field(default_factory=list, description="What was read, most trusted first.")
    notes: list[str] = Field(default_factory=list)

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """Steps and values of one metric, in step order (steps without it are left out)."""
        pairs = sorted((step, values[key]) for step, values in self.steps.items() if key in values)
        return [s for s, _ in pairs], [v for _, v in pairs]

    def names(self) -> list[str]:
        return sorted({key for values in self.steps.values() for key in values})


def _numeric(entry: dict[str, Any]) -> Metrics:
    out: Metrics = {}
    for key, value in entry.items():
        if key != "step" and isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    return out


def _from_history(history: Any, where: str) -> dict[int, Metrics]:
    if not isinstance(history, list):
        raise ValueError(f"{where}: expected a list of log entries, got {type(history).__name__}")
    steps: dict[int, Metrics] = {}
    for entry in history:
        if isinstance(entry, dict) and isinstance(entry.get("step"), int):
            steps.setdefault(entry["step"], {}).update(_numeric(entry))
    return steps


def read_train_log(path: Path) -> dict[int, Metrics]:
    """`train_log.json`: TRL's `log_history`, a list of dicts with a `step`."""
    return _from_history(json.loads(path.read_text(encoding="utf-8")), str(path))


def latest_trainer_state(run_dir: Path) -> Path | None:
    """`trainer_state.json` of the checkpoint with the highest step, if any."""
    best: tuple[int, Path] | None = None
    for folder in run_dir.glob("checkpoint-*"):
        suffix = folder.name.removeprefix("checkpoint-")
        state = folder / "trainer_state.json"
        if suffix.isdigit() and state.is_file() and (best is None or int(suffix) > best[0]):
            best = (int(suffix), state)
    return None if best is None else best[1]


def read_trainer_state(path: Path) -> dict[int, Metrics]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return _from_history(data.get("log_history") if isinstance(data, dict) else None, str(path))


def _tag_name(tag: str) -> str:
    """Back from the TensorBoard tag a Hugging Face trainer writes to the `log_history` key."""
    for prefix, replacement in (("train/", ""), ("eval/", "eval_"), ("test/", "test_")):
        if tag.startswith(prefix):
            return replacement + tag.removeprefix(prefix)
    return tag


def read_tensorboard(run_dir: Path) -> dict[int, Metrics]:
    """Scalars of every event file under `run_dir/runs` (needs the `tensorboard` package)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps: dict[int, Metrics] = {}
    for events in sorted((run_dir / "runs").rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags().get("scalars", []):
            for event in accumulator.Scalars(tag):
                if math.isfinite(event.value):
                    steps.setdefault(int(event.step), {})[_tag_name(tag)] = float(event.value)
    return steps


def read_metric_log(run_dir: Path) -> MetricLog:
    """Merge train_log.json, the newest trainer_state.json and TensorBoard scalars (first one wins per value)."""
    log = MetricLog()
    readers: list[tuple[str, Path | None, Any]] = [
        ("train_log.json", run_dir / "train_log.json", read_train_log),
        ("trainer_state.json", latest_trainer_state(run_dir), read_trainer_state),
    ]
    if (run_dir / "runs").is_dir() and any((run_dir / "runs").rglob("events.out.tfevents.*")):
        readers.append(("TensorBoard events", run_dir / "runs", lambda _: read_tensorboard(run_dir)))
    for label, path, reader in readers:
        if path is None or not path.exists():
            continue
        try:
            found: dict[int, Metrics] = reader(path)
        except ImportError:
            log.notes.append(f"{path}: TensorBoard event files found but the `tensorboard` package is not installed")
            continue
        except (OSError, ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
            log.notes.append(f"{path}: unreadable {label} ({exc}); skipped")
            continue
        if not found:
            continue
        log.sources.append(str(path))
        for step, values in found.items():
            merged = log.steps.setdefault(step, {})
            for key, value in values.items():
                merged.setdefault(key, value)
    if not log.sources:
        log.notes.append(f"{run_dir}: no trainer metrics (train_log.json, checkpoint trainer_state.json, TensorBoard)")
    return log
