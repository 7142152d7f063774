"""One RL run directory as the report sees it: its config, its rollouts by training step, its metrics.

Everything is rebuilt from the directory alone, so a run that crashed midway (no `train_log.json`, a
torn last line in `trajectories.jsonl`) still gets a report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cm2.report.metrics_log import MetricLog, read_metric_log
from cm2.report.records import load_records
from cm2.reward import RewardConfig
from cm2.schema import Trajectory

CONFIG_FILE = "rl_config.json"


class RunConfigView(BaseModel):
    """The parts of `rl_config.json` the report uses; anything else is ignored, so older runs still load."""

    model_config = ConfigDict(extra="ignore")

    data: str | None = None
    group_size: int | None = None
    dialogues_per_step: int = 1
    gradient_accumulation_steps: int = 1
    num_iterations: int = 1
    learning_rate: float | None = None
    max_steps: int | None = None
    reward: dict[str, Any] = Field(default_factory=dict)
    trajectories_file: str = "trajectories.jsonl"


@dataclass
class RunData:
    """A run directory, loaded."""

    path: Path
    config: RunConfigView
    reward: RewardConfig
    trajectories: list[Trajectory]
    steps: list[int]
    """The training step of each trajectory (see `assign_steps`)."""
    step_origin: str
    metrics: MetricLog
    notes: list[str] = field(default_factory=list)
    has_config: bool = True

    @property
    def label(self) -> str:
        """`<level>-level · G=<group size>` from the config, or the folder name."""
        if not self.has_config:
            return self.path.name
        group = f" · G={self.config.group_size}" if self.config.group_size else ""
        return f"{self.reward.level}-level{group}"


def group_index(label: str | None) -> int | None:
    """The batch position in a trainer's group label `uuid:checklist:index` (None for other labels)."""
    if not label:
        return None
    parts = label.rsplit(":", 2)
    return int(parts[2]) if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit() else None


def assign_steps(trajectories: Sequence[Trajectory], config: RunConfigView) -> tuple[list[int], str]:
    """The training step of each trajectory, and how it was found.

    Recorded `metadata["train_step"]` wins. Otherwise file order: the trainer writes each generation
    batch in order, a batch starts at rollout 0 of group index 0, and one batch feeds `num_iterations`
    optimizer steps, so batch b is labelled with step b * num_iterations + 1.
    """
    recorded = [t.metadata.get("train_step") for t in trajectories]
    if trajectories and all(isinstance(step, int) for step in recorded):
        return [int(step) for step in recorded if isinstance(step, int)], "recorded (metadata.train_step)"
    indices = [group_index(t.group) for t in trajectories]
    batches: list[int] = []
    if all(index is not None for index in indices):
        batch = -1
        for trajectory, index in zip(trajectories, indices, strict=True):
            if batch < 0 or (trajectory.rollout == 0 and index == 0):
                batch += 1
            batches.append(batch)
        origin = "inferred from file order (a batch starts at rollout 0 of group :0)"
    else:
        size = (config.group_size or 1) * config.dialogues_per_step * config.gradient_accumulation_steps
        batches = [i // size for i in range(len(trajectories))]
        origin = f"inferred from file order ({size} rollouts per batch)"
    return [b * config.num_iterations + 1 for b in batches], origin


def _read_config(run_dir: Path, notes: list[str]) -> tuple[RunConfigView, RewardConfig, bool]:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        notes.append(f"{path}: missing; using default reward settings and folder name as label")
        return RunConfigView(), RewardConfig(), False
    try:
        config = RunConfigView.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        notes.append(f"{path}: unreadable ({exc}); using defaults")
        return RunConfigView(), RewardConfig(), False
    try:
        reward = RewardConfig.model_validate(config.reward)
    except ValidationError as exc:
        notes.append(f"{path}: reward section not understood ({exc.errors()[0]['msg']}); using defaults")
        reward = RewardConfig()
    return config, reward, True


def load_run(run_dir: str | os.PathLike[str]) -> RunData:
    """Load a run directory written by `cm2.train.grpo.run_rl` (finished or not)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ValueError(f"{path}: not a directory")
    notes: list[str] = []
    config, reward, has_config = _read_config(path, notes)
    trajectories_path = path / config.trajectories_file
    trajectories: list[Trajectory] = []
    if trajectories_path.is_file():
        loaded = load_records(trajectories_path)
        trajectories, notes = loaded.trajectories, notes + loaded.notes
        if not trajectories:
            notes.append(f"{trajectories_path}: no trajectories in it")
        if loaded.judged:
            notes.append(f"{trajectories_path}: {len(loaded.judged)} judge records ignored (not trajectories)")
    else:
        notes.append(f"{trajectories_path}: missing; no rollouts to show")
    steps, origin = assign_steps(trajectories, config)
    metrics = read_metric_log(path)
    return RunData(path, config, reward, trajectories, steps, origin, metrics, notes + metrics.notes, has_config)
