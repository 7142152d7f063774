"""`cm2 demo`: the whole pipeline on BFCL at small scale (about 15 minutes on a 2-core CPU)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer


def _parse_sets(values: list[str] | None) -> dict[str, Any]:
    import yaml

    overrides: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        overrides[key.strip()] = yaml.safe_load(raw)
    return overrides


def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Run folder; each stage writes OUT/<stage>/.")] = Path("runs/demo"),
    tiny: Annotated[bool, typer.Option("--tiny", help="Tiny random model, minimal sizes (smoke test).")] = False,
    model: Annotated[str | None, typer.Option("--model", help="Start from this checkpoint folder.")] = None,
    config_path: Annotated[
        Path | None, typer.Option("--config", exists=True, dir_okay=False, help="A DemoConfig YAML (configs/demo/).")
    ] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="Override one setting, e.g. --set rl.max_steps=5 (repeatable).")
    ] = None,
    judge_base_url: Annotated[
        str | None, typer.Option("--judge-base-url", help="OpenAI-compatible endpoint for labeling and judging.")
    ] = None,
    judge_model: Annotated[str | None, typer.Option("--judge-model", help="Model name at that endpoint.")] = None,
    judge_api_key_env: Annotated[
        str | None, typer.Option("--judge-api-key-env", help="Variable holding the endpoint's key.")
    ] = None,
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

    Rerunning with the same OUT skips finished stages. Scores: a demo split of BFCL, not the leaderboard's."""
    from rich.console import Console

    from cm2.demo.pipeline import quiet_libraries, run_demo

    console = Console(stderr=True)
    if (judge_base_url is None) != (judge_model is None):
        raise typer.BadParameter("give both --judge-base-url and --judge-model", param_hint="--judge-model")
    overrides = _parse_sets(sets)
    if model is not None:
        overrides["model.path"] = model
    if judge_base_url is not None:
        overrides["llm"] = {"model": judge_model, "base_urls": [judge_base_url]}
        if judge_api_key_env is not None:
            overrides["llm"]["api_key_env"] = judge_api_key_env
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
    from cm2.config import set_dotted
    from cm2.demo.config import DemoConfig

    if path is not None:
        return DemoConfig.from_yaml(path, overrides)
    if tiny:
        preset = DemoConfig.tiny()
    elif gpu:
        from cm2.demo.experiment import build_config, parse_args

        preset = build_config(parse_args(["--configs", str(experiment_configs())]))
    else:
        preset = DemoConfig()
    data = preset.model_dump(mode="json")
    for dotted, value in overrides.items():
        set_dotted(data, dotted, value)
    return DemoConfig.model_validate(data)


def register(app: typer.Typer) -> None:
    """Add the top-level `demo` command."""
    app.command("demo")(demo_command)
