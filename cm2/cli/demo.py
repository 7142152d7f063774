"""`cm2 demo` (the whole pipeline on BFCL at small scale, about 15 minutes on a 2-core CPU) and `cm2 experiment`
(the learning experiment on a GPU: SFT, GRPO, held-out evaluation; several seeds)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from cm2.cli.guard import fail
from cm2.cli.options import ConfigFile, Sets, configured, model_flags
from cm2.cli.root import app
from cm2.config import parse_overrides
from cm2.console import say
from cm2.demo.config import DemoConfig
from cm2.demo.experiment import run_experiment
from cm2.demo.experiment_config import ExperimentConfig
from cm2.demo.pipeline import run_demo
from cm2.demo.presets import prepare_run


@app.command("demo")
@model_flags(DemoConfig, "model.path=model")
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Run folder; each stage writes OUT/<stage>/.")] = Path("runs/demo"),
    tiny: Annotated[bool, typer.Option("--tiny", help="Tiny random model, minimal sizes (smoke test).")] = False,
    config_path: ConfigFile = None,
    sets: Sets = None,
    scale: Annotated[
        Literal["auto", "cpu", "gpu"],
        typer.Option(
            "--scale",
            help="auto: the GPU learning experiment's sizes (configs/experiment/) when a GPU is present, else the "
            "CPU demo's; cpu; gpu.",
        ),
    ] = "auto",
    *,
    flags: dict[str, Any],
) -> None:
    """Import BFCL, label, filter, SFT, GRPO with real BFCL tools, held-out evaluation and an HTML report.

    Rerunning with the same OUT skips finished stages. Scores: a demo split of BFCL, not the leaderboard's.
    An LLM endpoint for labeling and judging: --set llm.model=NAME --set llm.base_url=URL. --config: a
    DemoConfig YAML (configs/demo/)."""
    config = prepare_run(config_path, tiny, scale, {**flags, **parse_overrides(sets or [])})
    try:
        run_demo(config, out, Console(stderr=True))
    except (ValueError, RuntimeError, ImportError, FileNotFoundError) as exc:
        stop = fail(str(exc), 1)
        say(f"finished stages are kept; rerun the same command to continue from where it stopped ({out})", err=True)
        raise stop from exc


@app.command("experiment")
@configured(ExperimentConfig, *ExperimentConfig.model_fields)
def experiment_command(*, settings: ExperimentConfig) -> None:
    """SFT, then GRPO with checklist rewards, then held-out evaluation of base, SFT and RL, on the BFCL demo split.

    Sizes come from configs/experiment/ unless a flag (or --set) changes them; a rerun with the same OUT skips
    finished stages. --seeds 0,1,2 runs a folder per seed side by side and writes OUT/results/seeds.md."""
    run_experiment(settings)
