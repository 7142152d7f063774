"""The learning experiment on a GPU: SFT, then GRPO at the trajectory, turn and step levels, then held-out
evaluation of base / SFT / each RL model, on the BFCL demo split with Gemma-3-270M.

    cm2 experiment --out runs/experiment [--rl-max-steps 10] [--seeds 0,1,2] [--config FILE] [--set key=value]

It is the demo's pipeline (`cm2.demo.pipeline`) with the run configs of `configs/experiment/` (full BFCL
tool docs, every entry of the split, bf16 on the GPU) and its sizes in `ExperimentConfig`. Each stage prints its
time and is skipped when rerun with the same settings; results land in OUT/results/ (results.json, results.md,
heldout.png, rl_rewards.png; with several seeds also seeds.json and seeds.md). An RL run that spends
`--rl-max-minutes` before its last step keeps a checkpoint and the command exits with status 3; the same command
again carries it on (with `--rl-lora` that checkpoint is small enough to carry to another machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

from cm2.demo.config import DemoConfig, deep_merge
from cm2.demo.experiment_config import ExperimentConfig
from cm2.demo.stages import StageUnfinished
from cm2.llm.redact import redact_tree
from cm2.reward.config import Level

_PATH_KEYS = {"sft": ("model.path", "data.path", "output_dir"), "rl": ("model.path", "data", "output_dir")}
LORA_OVERLAY = "rl_lora.yaml"
UNFINISHED_EXIT = 3
"""Exit status of `cm2 experiment` when an RL run stopped on its time budget: run it again to carry it on."""


def _run_dict(kind: str, path: Path) -> dict[str, Any]:
    """A shipped run config as a complete dict (every field), less the paths the pipeline fills in."""
    from cm2.train.rl_config import RLRunConfig
    from cm2.train.sft_config import SFTRunConfig

    loaded = (SFTRunConfig if kind == "sft" else RLRunConfig).from_yaml(path)
    values: dict[str, Any] = loaded.model_dump(mode="json")
    for dotted in _PATH_KEYS[kind]:
        *parents, leaf = dotted.split(".")
        node = values
        for key in parents:
            node = node[key]
        node.pop(leaf, None)
    return values


def _lora_overlay(path: Path) -> dict[str, Any]:
    """The RL settings `--rl-lora` merges over each level's config: `lora` and what goes with it."""
    import yaml

    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(values, dict) or not isinstance(values.get("lora"), dict):
        raise ValueError(f"{path}: expected a mapping with a `lora:` section")
    return values


def build_config(args: ExperimentConfig) -> DemoConfig:
    """The pipeline config of the experiment from the shipped YAMLs and the experiment's settings."""
    levels = [cast(Level, level) for level in args.levels]
    sft = _run_dict("sft", args.configs / "sft.yaml")
    by_level = {level: _run_dict("rl", args.configs / f"rl_{level}.yaml") for level in levels}
    if args.rl_lora:
        lora = _lora_overlay(args.configs / LORA_OVERLAY)
        by_level = {level: deep_merge(values, lora) for level, values in by_level.items()}
    rl = dict(by_level[levels[0]])
    for key, value in {
        "epochs": args.sft_epochs,
        "max_steps": args.sft_max_steps,
        "learning_rate": args.sft_lr,
        "per_device_batch_size": args.sft_batch,
    }.items():
        if value is not None:
            sft[key] = value
    rl_flags = {
        "max_steps": args.rl_max_steps,
        "max_minutes": args.rl_max_minutes,
        "kl_coef": args.kl_coef,
        "learning_rate": args.rl_lr,
        "group_size": args.group_size,
        "dialogues_per_step": args.dialogues_per_step,
        "tasks": args.tasks,
        "warmup_ratio": args.warmup_ratio,
    }
    for values in by_level.values():
        values.update({k: v for k, v in rl_flags.items() if v is not None})
        sampling = values["episode"]["sampling"]
        if args.temperature is not None:
            sampling["temperature"] = args.temperature
        if args.max_new_tokens is not None:
            sampling["max_new_tokens"] = args.max_new_tokens
        limits = values["episode"]["limits"]
        if args.rl_max_turns is not None:
            limits["max_turns"] = args.rl_max_turns
        if args.rl_max_steps_per_turn is not None:
            limits["max_steps_per_turn"] = args.rl_max_steps_per_turn
        if args.zero_spread is not None:
            values["zero_spread"]["action"] = args.zero_spread
        if args.compile_shapes is not None:
            values.setdefault("decoder", {})["compile_shapes"] = args.compile_shapes
        if args.window_attention is not None:
            values.setdefault("decoder", {})["window_attention"] = "off" if args.window_attention == "off" else "on"
        if args.probe_every is not None:
            values["probe"]["every_steps"] = args.probe_every
        if args.probe_dialogues is not None:
            values["probe"]["dialogues"] = args.probe_dialogues
        if args.cpu:
            values.update(use_cpu=True)
    if args.cpu:
        sft.update(use_cpu=True)
    eval_section: dict[str, Any] = {
        "models": list(args.eval_models),
        "max_turns": args.eval_max_turns,
        "max_steps_per_turn": args.eval_max_steps_per_turn,
        "at_step_limit": args.eval_at_step_limit,
        "max_new_tokens": args.max_new_tokens or 160,
        "max_context_tokens": 10_000,
        "dtype": "bfloat16",
        "concurrency": args.eval_concurrency,
    }
    if args.compile_shapes is not None:
        eval_section["compile_shapes"] = args.compile_shapes
    if args.window_attention is not None:
        eval_section["window_attention"] = "on" if args.window_attention == "on" else "off"
    selection = {
        key: value
        for key, value in {
            "val_dialogues": args.val_dialogues,
            "checkpoints": args.sft_checkpoints,
            "rl_dialogues": args.rl_dialogues,
        }.items()
        if value is not None
    }
    return DemoConfig.model_validate(
        {
            "seed": args.seed,
            "sft_selection": selection,
            "model": {"path": args.model},
            "data": {
                "classes": list(args.classes),
                "train_limit": args.train_limit,
                "heldout_limit": args.heldout_limit,
                "tool_docs": args.tool_docs,
            },
            "sft": sft,
            "rl": rl,
            "rl_levels": levels,
            "rl_by_level": by_level,
            "rl_budget": args.rl_budget,
            "rl_checkpoint_every": args.rl_checkpoint_every,
            "rl_data": args.rl_data,
            "sft_recovery": args.sft_recovery,
            "label": {"extra_arguments": not args.strict_arguments},
            "eval": eval_section,
        }
    )


def write_results(out: Path, config: DemoConfig, seconds: float) -> Path:
    """results.json / results.md / PNGs under OUT/results from the finished stages."""
    from cm2.demo.pipeline import build_stages, rl_names
    from cm2.demo.plots import plot_heldout, plot_probe, plot_rewards
    from cm2.demo.stages import read_record
    from cm2.demo.summary import markdown, stage_records

    folder = out / "results"
    folder.mkdir(parents=True, exist_ok=True)
    order = [stage.name for stage in build_stages(config, out)]
    records = stage_records(out, order)
    eval_record = read_record(out / "eval")
    scores = eval_record.outputs.get("scores", []) if eval_record else []
    rewards = {
        name: (read_record(out / name) or _empty(name)).outputs.get("mean_reward_per_step", [])
        for name in rl_names(config)
    }
    rl_outputs = {name: (read_record(out / name) or _empty(name)).outputs for name in rl_names(config)}
    probes = {name: outputs.get("probe_reward_by_step", {}) for name, outputs in rl_outputs.items()}
    kept = {name: outputs["kept_step"] for name, outputs in rl_outputs.items() if outputs.get("kept_step") is not None}
    data = {
        "scores": scores,
        "rl_rewards": rewards,
        "probe_rewards": probes,
        "rl_kept_steps": kept,
        "stage_seconds": {r.name: r.seconds for r in records},
        "wall_seconds_this_run": round(seconds, 1),
        "config": redact_tree(config.model_dump(mode="json")),
    }
    (folder / "results.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    notes = "".join(
        f"\n{name}: the evaluated model is step {step}, the best probed one on {rl_outputs[name].get('kept_on')} "
        "(`probe.keep_best`)" + (": the starting model, as no RL step beat it.\n" if step == 0 else ".\n")
        for name, step in kept.items()
    )
    (folder / "results.md").write_text(markdown(scores, records) + notes, encoding="utf-8")
    if scores:
        plot_heldout(scores, folder / "heldout.png")
    if any(rewards.values()):
        plot_rewards(rewards, folder / "rl_rewards.png")
    if any(probes.values()):
        plot_probe(probes, folder / "probe.png")
    return folder


def _empty(name: str) -> Any:
    from cm2.demo.stages import StageRecord

    return StageRecord(name=name, fingerprint="", seconds=0.0, finished_at="")


def _child(settings: ExperimentConfig, log: Path, **changes: Any) -> subprocess.Popen[bytes]:
    """`cm2 experiment` in a child process with `settings` changed by `changes` (written next to its log)."""
    import yaml

    path = log.with_suffix(".yaml")
    values = settings.model_copy(update=changes).model_dump(mode="json")
    path.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    command = [sys.executable, "-m", "cm2.cli", "experiment", "--config", str(path)]
    with log.open("ab") as sink:
        return subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)


def run_side_by_side(settings: ExperimentConfig, config: DemoConfig, console: Any) -> None:
    """Stages up to SFT here, then two waves of child processes (`only`): every RL level, then the held-out
    evaluation of every model. A failed child is reported; the sequential run that follows reruns whatever did
    not finish. An RL run stopped on its time budget ends the command there (`StageUnfinished`): the evaluations
    would find no model, and the sequential run would spend a second budget on it."""
    from cm2.demo.pipeline import build_stages, eval_models, rl_names, run_demo

    out = settings.out
    names = [stage.name for stage in build_stages(config, out)]
    run_demo(config, out, console, only=set(names[: names.index("sft") + 1]))
    # The evaluations wait for the second wave: beside three RL runs they could run the GPU out of memory.
    waves = [[[name] for name in rl_names(config)], [[stage] for stage in eval_models(config)]]
    (out / "logs").mkdir(parents=True, exist_ok=True)
    for wave in waves:
        children = []
        for group in wave:
            log = out / "logs" / f"{'+'.join(group)}.log"
            children.append((group, log, _child(settings, log, parallel=False, only=group)))
            console.print(f"started {', '.join(group)} → {log}")
        paused = []
        for group, log, child in children:
            code = child.wait()
            if code == 0:
                status = "[green]done[/]"
            elif code == UNFINISHED_EXIT:
                status = f"[yellow]stopped on its time budget; see {log}[/]"
                paused += group
            else:
                status = f"[red]failed (exit {code}); see {log}[/]"
            console.print(f"{', '.join(group)}: {status}")
        if paused:
            raise StageUnfinished(f"{', '.join(paused)}: stopped on the time budget; run the same command again")


def _seed_changes(settings: ExperimentConfig, seed: int) -> dict[str, Any]:
    """How the settings of one seed's child process differ from the command's."""
    changes: dict[str, Any] = {"seeds": [], "seed": seed, "out": settings.out / f"seed{seed}"}
    if seed != settings.seeds[0]:  # greedy decoding of the same base model: one evaluation serves every seed
        changes["eval_models"] = [m for m in settings.eval_models if m != "base"] or ["sft"]
    return changes


def plan_experiment(settings: ExperimentConfig, console: Any) -> None:
    """Print what running `settings` would do with each stage of each run folder; nothing runs."""
    from rich.table import Table

    from cm2.demo.pipeline import plan_demo
    from cm2.demo.stages import STATUS_TEXT

    runs = [settings.model_copy(update=_seed_changes(settings, seed)) for seed in settings.seeds] or [settings]
    for run in runs:
        console.print(f"[bold]{run.out}[/]", soft_wrap=True)  # not the table's title: a title wraps at its width
        table = Table()
        table.add_column("stage")
        table.add_column("a run now")
        for name, status in plan_demo(build_config(run), run.out):
            style = {"restarts": "bold red", "reruns": "yellow", "done": "dim"}.get(status, "")
            table.add_row(name, STATUS_TEXT[status], style=style)
        console.print(table)


def run_seeds(settings: ExperimentConfig, console: Any) -> int:
    """One child process per seed (OUT/seed<N>, logs in OUT/logs/), side by side, then OUT/results/seeds.*.
    Returns the command's exit status: 1 when a seed failed, `UNFINISHED_EXIT` when one stopped on its budget."""
    from cm2.demo.seeds import write_seed_summary

    out, seeds = settings.out, settings.seeds
    (out / "logs").mkdir(parents=True, exist_ok=True)
    children = []
    for seed in seeds:
        log = out / "logs" / f"seed{seed}.log"
        children.append((seed, log, _child(settings, log, **_seed_changes(settings, seed))))
        console.print(f"seed {seed} started → {log}")
    codes = []
    for seed, log, child in children:
        code = child.wait()
        codes.append(code)
        status = "[green]done[/]" if code == 0 else f"[red]failed (exit {code}); see {log}[/]"
        if code == UNFINISHED_EXIT:
            status = "[yellow]RL stopped on its time budget; run the same command again to carry it on[/]"
        console.print(f"seed {seed}: {status}")
    console.print(f"results → {write_seed_summary(out, seeds)}")
    if any(code not in (0, UNFINISHED_EXIT) for code in codes):
        return 1
    return UNFINISHED_EXIT if UNFINISHED_EXIT in codes else 0


def run_experiment(settings: ExperimentConfig) -> None:
    """Run (or resume) the experiment `settings` describes."""
    from rich.console import Console

    from cm2.demo.pipeline import quiet_libraries, run_demo

    config = build_config(settings)
    quiet_libraries()
    console = Console(stderr=True)
    if settings.plan:
        plan_experiment(settings, Console())  # on stdout: it is the command's answer
        return
    try:
        if settings.only:
            run_demo(config, settings.out, console, only=set(settings.only))
            return
        started = time.perf_counter()
        if settings.seeds:
            code = run_seeds(settings, console)
            if code:
                raise SystemExit(code)
            return
        if settings.parallel:
            run_side_by_side(settings, config, console)
        run_demo(config, settings.out, console)
    except StageUnfinished as stop:
        console.print(f"[yellow]{stop}[/]", soft_wrap=True)
        raise SystemExit(UNFINISHED_EXIT) from stop
    folder = write_results(settings.out, config, time.perf_counter() - started)
    console.print(f"results → {folder}")
