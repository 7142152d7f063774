"""`cm2 demo`: the whole pipeline on BFCL at small scale (about 15 minutes on a 2-core CPU)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from cm2.cli.options import Sets
from cm2.config import parse_overrides


def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Run folder; each stage writes OUT/<stage>/.")] = Path("runs/demo"),
    tiny: Annotated[bool, typer.Option("--tiny", help="Tiny random model, minimal sizes (smoke test).")] = False,
    model: Annotated[str | None, typer.Option("--model", help="Start from this checkpoint folder.")] = None,
    config_path: Annotated[
        Path | None, typer.Option("--config", exists=True, dir_okay=False, help="A DemoConfig YAML (configs/demo/).")
    ] = None,
    sets: Sets = None,
    scale: Annotated[
        str,
        typer.Option(
            "--scale",
            help="auto: the GPU learning experiment's sizes (configs/experiment/) when a GPU is present, else the "
            "CPU demo's; cpu; gpu.",
        ),
    ] = "auto",
) -> None:
    """Import BFCL, label, filter, SFT, GRPO with real BFCL tools, held-out evaluation and an HTML report.

    Rerunning with the same OUT skips finished stages. Scores: a demo split of BFCL, not the leaderboard's.
    An LLM endpoint for labeling and judging: --set llm.model=NAME --set llm.base_url=URL."""
    from rich.console import Console

    from cm2.demo.pipeline import quiet_libraries, run_demo

    console = Console(stderr=True)
    overrides = {**({"model.path": model} if model is not None else {}), **parse_overrides(sets or [])}
    if scale not in ("auto", "cpu", "gpu"):
        raise typer.BadParameter(f"expected auto, cpu or gpu, got {scale!r}", param_hint="--scale")
    gpu = config_path is None and not tiny and (scale == "gpu" or (scale == "auto" and _has_gpu()))
    try:
        config = load_config(config_path, tiny, overrides, gpu=gpu)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config/--set") from exc
    if gpu:
        console.print(
            "GPU found: running the learning experiment's sizes (configs/experiment/; --scale cpu for the CPU demo)",
            soft_wrap=True,
        )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_libraries()
    try:
        run_demo(config, out, console)
    except (ValueError, RuntimeError, ImportError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/] {exc}", markup=True, soft_wrap=True)
        console.print(f"finished stages are kept; rerun the same command to continue from where it stopped ({out})")
        raise typer.Exit(1) from exc


def _has_gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def experiment_configs() -> Path:
    """configs/experiment/ of the source checkout cm2 runs from (else of the working directory)."""
    import cm2

    for root in (Path(cm2.__file__).resolve().parents[1], Path.cwd()):
        if (root / "configs" / "experiment" / "sft.yaml").is_file():
            return root / "configs" / "experiment"
    raise ValueError("the GPU scale reads configs/experiment/ from a source checkout; none found (--scale cpu)")


def load_config(path: Path | None, tiny: bool, overrides: dict[str, Any], *, gpu: bool = False) -> Any:
    """The demo config: a YAML file, else the tiny, GPU-experiment or CPU preset; then the dotted overrides."""
    from cm2.config import load_config as load_model
    from cm2.demo.config import DemoConfig

    if path is not None:
        return DemoConfig.from_yaml(path, overrides)
    if tiny:
        preset = DemoConfig.tiny()
    elif gpu:
        from cm2.demo.experiment import build_config
        from cm2.demo.experiment_config import ExperimentConfig

        preset = build_config(ExperimentConfig(configs=experiment_configs()))
    else:
        preset = DemoConfig()
    return load_model(DemoConfig, None, overrides, base=preset)


def register(app: typer.Typer) -> None:
    """Add the top-level `demo` command."""
    app.command("demo")(demo_command)
