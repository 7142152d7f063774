"""Which demo config a run starts from: a YAML file, else the tiny, GPU-experiment or CPU preset."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from cm2.demo.config import DemoConfig

Scale = Literal["auto", "cpu", "gpu"]


def has_gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def uses_gpu_preset(path: Path | None, tiny: bool, scale: Scale) -> bool:
    """Whether the GPU learning experiment's sizes apply: no file, not tiny, and `gpu` (or `auto` with a GPU)."""
    return path is None and not tiny and (scale == "gpu" or (scale == "auto" and has_gpu()))


def experiment_configs() -> Path:
    """configs/experiment/ of the source checkout cm2 runs from (else of the working directory)."""
    import cm2

    for root in (Path(cm2.__file__).resolve().parents[1], Path.cwd()):
        if (root / "configs" / "experiment" / "sft.yaml").is_file():
            return root / "configs" / "experiment"
    raise ValueError("the GPU scale reads configs/experiment/ from a source checkout; none found (--scale cpu)")


def load_config(path: Path | None, tiny: bool, overrides: dict[str, Any], *, gpu: bool = False) -> DemoConfig:
    """The demo config: a YAML file, else the tiny, GPU-experiment or CPU preset; then the dotted overrides."""
    from cm2.config import load_config as load_model

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


def prepare_run(path: Path | None, tiny: bool, scale: Scale, overrides: dict[str, Any]) -> DemoConfig:
    """The config `cm2 demo` runs (`load_config`; a note when the GPU experiment's sizes apply), with warnings
    logged and the libraries' own chatter quiet for the run."""
    import logging

    from cm2.console import say, show_logs
    from cm2.demo.pipeline import quiet_libraries

    gpu = uses_gpu_preset(path, tiny, scale)
    config = load_config(path, tiny, overrides, gpu=gpu)
    if gpu:
        say("GPU found: running the learning experiment's sizes (configs/experiment/; --scale cpu for the CPU demo)")
    show_logs(logging.WARNING)
    quiet_libraries()
    return config
