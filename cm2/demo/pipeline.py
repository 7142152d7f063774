"""`cm2 demo`: the whole pipeline at small scale, stage by stage, resumable.

model → data (BFCL import) → label → filter → sft → rl (one run per level) → eval (held-out) → report.
Every stage writes into OUT/<stage>/ and is skipped on a rerun once finished with the same settings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cm2.demo.config import LAST_SUFFIX, DemoConfig
from cm2.demo.stages import Stage, StageResult, StageRunner, StageStatus
from cm2.llm.redact import redact_tree
from cm2.reward.config import Level


@dataclass
class DemoResult:
    """What a demo run produced."""

    out: Path
    stages: list[StageResult]
    scores: list[dict[str, Any]] = field(default_factory=list)
    report: Path | None = None
    seconds: float = 0.0


def rl_names(config: DemoConfig) -> list[str]:
    """Folder name of each RL run: `rl` for a single level, else `rl_<level>`."""
    if len(config.rl_levels) == 1:
        return ["rl"]
    return [f"rl_{level}" for level in config.rl_levels]


def _outputs(out: Path, name: str) -> dict[str, Any]:
    from cm2.demo.stages import read_record

    record = read_record(out / name)
    if record is None:
        raise RuntimeError(f"stage {name} has not finished (no {out / name / 'stage.json'})")
    return record.outputs


def build_stages(config: DemoConfig, out: Path) -> list[Stage]:
    """The demo's stages in order (nothing runs until the runner calls them)."""
    from cm2.demo.prepare import data_stage, filter_stage, label_stage, model_stage
    from cm2.demo.training import sft_stage

    llm = config.llm.model if config.llm is not None else None
    stages = [
        Stage(
            "model",
            "the base policy",
            {"model": config.model.model_dump(), "seed": config.seed},
            lambda f: model_stage(config, f),
        ),
        Stage(
            "data",
            "BFCL entries → reference dialogues (ground truth executed on BFCL's backends)",
            {"data": config.data.model_dump(), "reply_item": config.reply_item},
            lambda f: data_stage(config, f),
        ),
        Stage(
            "label",
            "checklists" + (f" by {llm}" if llm and config.label.use_llm else " from the reference calls"),
            {
                "label": config.label.model_dump(exclude={"extra_arguments"})
                | _if_changed("extra_arguments", config.label.extra_arguments, True),
                "llm": llm,
                "reply_item": config.reply_item,
            },
            lambda f: label_stage(config, out / "data", f),
        ),
        Stage("filter", "rule filters", {}, lambda f: filter_stage(out / "label", f)),
        Stage(
            "sft",
            "cold-start SFT",
            {
                **config.sft,
                "seed": config.seed,
                "selection": config.sft_selection.model_dump(),
                **_if_changed("recovery", config.sft_recovery, 0),
            },
            lambda f: sft_stage(config, _outputs(out, "model")["path"], out / "filter" / "train.jsonl", f),
        ),
    ]
    evals = eval_models(config)
    early = {stage: model for stage, model in evals.items() if model in ("base", "sft")}
    stages += [_eval_stage(config, out, stage, model, llm) for stage, model in early.items()]
    for name, level in zip(rl_names(config), config.rl_levels, strict=True):
        by_level = config.rl_by_level.get(level, {})
        settings = {
            "rl": _run_settings(config.rl),
            "level": level,
            "by_level": _run_settings(by_level),
            "llm": llm,
            **_if_changed("rl_data", config.rl_data, "rl_split"),
        }
        stages.append(
            Stage(
                name,
                f"GRPO with checklist rewards, {level} level, real BFCL tools",
                settings,
                _rl_runner(config, out, level),
                clean=False,  # a run stopped on its time budget resumes from its last checkpoint
            )
        )
    stages += [_eval_stage(config, out, stage, model, llm) for stage, model in evals.items() if stage not in early]
    stages.append(
        Stage(
            "eval",
            "held-out scores side by side (" + ", ".join(evals.values()) + ")",
            {"models": list(evals)},
            lambda f: {"scores": [_outputs(out, stage)["scores"] for stage in evals]},
        )
    )
    stages.append(Stage("report", "HTML report", {}, lambda f: report_stage(config, out, f)))
    return stages


def _if_changed(key: str, value: Any, before: Any) -> dict[str, Any]:
    """`{key: value}`, or nothing while `value` keeps the behaviour from `before` the setting existed: a setting
    added later enters a stage's fingerprint only when used, so records made before it still count."""
    return {} if value == before else {key: value}


# How long one piece of an RL run may take is not part of what it trains, nor are the settings that only change
# how fast the same numbers come (activation checkpointing; shared-prompt scoring, equal to TRL's scoring in
# tests/train/test_shared_prompt.py), nor how many checkpoints are kept: a rerun that changes them goes on from the
# last checkpoint instead of starting over.
_PIECE_KEYS = ("max_minutes", "resume", "gradient_checkpointing", "shared_prompt_scoring", "save_total_limit")
# Decoder settings of that kind, wherever they sit (RL's rollouts, every evaluation): left out of the fingerprint,
# so turning one on keeps finished stages and a run's checkpoints, and so does the version that added it (run 11's
# records, written before `window_attention` existed, still count).
_SPEED_ONLY_KEYS = frozenset({"window_attention"})


def _run_settings(values: dict[str, Any]) -> dict[str, Any]:
    return _without_speed_only({key: value for key, value in values.items() if key not in _PIECE_KEYS})


def _without_speed_only(values: Any) -> Any:
    if isinstance(values, dict):
        return {key: _without_speed_only(value) for key, value in values.items() if key not in _SPEED_ONLY_KEYS}
    if isinstance(values, list):
        return [_without_speed_only(value) for value in values]
    return values


def eval_models(config: DemoConfig) -> dict[str, str]:
    """Stage name → model name of each held-out evaluation (`rl` in `eval.models` means every RL run's final
    model, `rl_last` every RL run's last policy: `<run>_last`)."""
    found: dict[str, str] = {}
    for model in config.eval.models:
        if model == "rl":
            names = rl_names(config)
        elif model == "rl_last":
            names = [name + LAST_SUFFIX for name in rl_names(config)]
        else:
            names = [model]
        for name in names:
            found[f"eval_{name}"] = name
    return found


def _eval_stage(config: DemoConfig, out: Path, stage: str, model: str, llm: str | None) -> Stage:
    settings = {"eval": _without_speed_only(config.eval.model_dump(exclude={"models"})), "llm": llm, "model": model}

    def run(folder: Path) -> dict[str, Any]:
        return {"scores": evaluate_checkpoint(config, out, model, folder)}

    return Stage(stage, f"held-out evaluation of {model}", settings, run, clean=False)


def _rl_runner(config: DemoConfig, out: Path, level: Level) -> Callable[[Path], dict[str, Any]]:
    from cm2.demo.training import rl_data, rl_stage

    def run(folder: Path) -> dict[str, Any]:
        sft = _outputs(out, "sft")
        data, probe_data = rl_data(sft, out / "filter" / "train.jsonl", config.rl_data, folder)
        return rl_stage(config, sft["final"], data, folder, level, probe_data)

    return run


def checkpoint_of(out: Path, model: str) -> str:
    """The checkpoint folder of a model name: `base`, `sft`, an RL run's folder name, or that name with
    `_last` (the run's policy after its last step)."""
    if model == "base":
        return str(_outputs(out, "model")["path"])
    run = model.removesuffix(LAST_SUFFIX)
    if run == model:
        return str(_outputs(out, model)["final"])
    outputs = _outputs(out, run)
    if "last" not in outputs:
        raise RuntimeError(f"{out / run}: finished before RL stages recorded their last policy; run RL again")
    return str(outputs["last"])


def evaluate_checkpoint(config: DemoConfig, out: Path, model: str, folder: Path) -> dict[str, Any]:
    """One model on the held-out dialogues; its rollouts in `folder` resume on a rerun."""
    from rich.console import Console

    from cm2.demo.evaluate import evaluate_model

    checkpoint = checkpoint_of(out, model)
    Console(stderr=True).print(f"evaluating [bold]{model}[/] ({checkpoint})")
    started = time.perf_counter()
    scored = evaluate_model(model, checkpoint, out / "filter" / "heldout.jsonl", config.eval, folder, config.llm)
    return {**scored.model_dump(), "seconds": round(time.perf_counter() - started, 1)}


def report_stage(config: DemoConfig, out: Path, folder: Path) -> dict[str, Any]:
    """`cm2 report` over the RL runs (curves, costs, every rollout with its verdicts) plus the summary."""
    from cm2.demo.summary import write_summary
    from cm2.report import build_report

    runs = [out / name for name in rl_names(config)]
    result = build_report(runs, folder, dialogues=out / "filter" / "train.jsonl")
    order = [stage.name for stage in build_stages(config, out)]
    summary = write_summary(out, folder, order)
    return {"html": str(result.html), "rollouts_shown": result.rollouts_shown, "summary": str(summary)}


def quiet_libraries() -> None:
    """Keep the output to the pipeline's own progress: no weight-loading bars, deprecation notes or
    experimental-feature warnings from transformers and TRL (training progress bars stay)."""
    import os
    import warnings

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def plan_demo(config: DemoConfig, out: Path) -> list[tuple[str, StageStatus]]:
    """What `run_demo` would do with each stage under `out`, in order; nothing is run or written."""
    from cm2.demo.precision import resolve_precision

    config, _ = resolve_precision(config)  # as run_demo does: the precision is part of some stages' settings
    runner = StageRunner(out, None)
    return [(stage.name, runner.plan(stage)) for stage in build_stages(config, out)]


def run_demo(config: DemoConfig, out: Path, console: Any = None, only: Collection[str] | None = None) -> DemoResult:
    """Run (or resume) every stage under `out`; returns the stages, the held-out scores and the report.

    With `only`, just the named stages run (the ones before them must have finished, in this or another
    process); the others are passed over, so several processes can run independent stages side by side.
    """
    from rich.console import Console

    from cm2.demo.precision import resolve_precision
    from cm2.demo.summary import print_summary

    console = console or Console(stderr=True)
    config, precision = resolve_precision(config)
    console.print(f"precision: [bold]{precision.dtype}[/] ({precision.reason})", soft_wrap=True)
    out.mkdir(parents=True, exist_ok=True)
    public = redact_tree(config.model_dump(mode="json"))  # the judge's URL without credentials
    (out / "demo_config.json").write_text(json.dumps(public, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    runner = StageRunner(out, console)
    stages = build_stages(config, out)
    started = time.perf_counter()
    for index, stage in enumerate(stages, start=1):
        if only is not None and stage.name not in only:
            runner.advance(stage)
            continue
        runner.run(stage, index, len(stages))
    result = DemoResult(out=out, stages=runner.results, seconds=time.perf_counter() - started)
    if only is not None:
        return result
    result.scores = list(_outputs(out, "eval").get("scores", []))
    result.report = Path(_outputs(out, "report")["html"])
    print_summary(result, console)
    return result
