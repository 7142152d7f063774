"""`cm2 experiment`: the learning experiment on a GPU (SFT, GRPO, held-out evaluation; several seeds)."""

from __future__ import annotations

from typing import Any

import typer

from cm2.cli.options import ConfigFile, Sets, command_config, model_flags
from cm2.demo.experiment_config import ExperimentConfig

FLAGS = tuple(ExperimentConfig.model_fields)


@model_flags(ExperimentConfig, *FLAGS)
def experiment_command(config: ConfigFile = None, sets: Sets = None, *, flags: dict[str, Any]) -> None:
    """SFT, then GRPO with checklist rewards, then held-out evaluation of base, SFT and RL, on the BFCL demo split.

    Sizes come from configs/experiment/ unless a flag (or --set) changes them; a rerun with the same OUT skips
    finished stages. --seeds 0,1,2 runs a folder per seed side by side and writes OUT/results/seeds.md."""
    from cm2.demo.experiment import run_experiment

    run_experiment(command_config(ExperimentConfig, config, sets, **flags))


def register(app: typer.Typer) -> None:
    """Add the top-level `experiment` command."""
    app.command("experiment")(experiment_command)
