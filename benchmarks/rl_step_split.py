"""Where a GRPO step's time goes, for the training settings that should not change its numbers.

cm2's GRPO step (`cm2.train.grpo.run_rl`) on a random-weight model of a real shape, with per-turn-sized prompts and
completions (default: Gemma-3-270M, 8 groups of 8 rows, 2,400 prompt and 160 new tokens, as in `results/learning`;
each group its own prompt), once per variant of: LoRA or every weight, activation checkpointing, shared-prompt
scoring, and the decoder's compilation. Each step's time splits into the rollout (`cm2/rollout_seconds`), TRL's
batch (`cm2/time/trl_batch_s`: padding, the reference log-probs) and the rest: the loss's forward and backward
passes and the optimizer. Prints the median of each over the steps after the first, and each variant's rest as a
ratio to the first variant's.

    python benchmarks/rl_step_split.py --device cuda                              # the variants below
    python benchmarks/rl_step_split.py --device cpu --shape tiny-gemma3 --vocab 4096 --prompt-len 64 \
        --completion-len 8 --steps 2 --variants full_ckpt,lora_shared
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from grpo_throughput import bench_rl_config, build, instant_judge, settle, step_arguments

from cm2.tools import HybridToolSimulator
from cm2.train.grpo import run_rl

LORA = {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}
VARIANTS: dict[str, dict[str, Any]] = {
    # run 9: every weight, TRL's checkpointed forward
    "full_ckpt": {"gradient_checkpointing": True, "shared_prompt_scoring": False},
    "full_shared": {"gradient_checkpointing": False, "shared_prompt_scoring": True},
    # run 10: LoRA, shared-prompt scoring
    "lora_shared": {"lora": LORA, "gradient_checkpointing": False, "shared_prompt_scoring": True},
    "lora_shared_eager": {
        "lora": LORA,
        "gradient_checkpointing": False,
        "shared_prompt_scoring": True,
        "decoder": {"compile": "off"},
    },
    "lora_ckpt": {"lora": LORA, "gradient_checkpointing": True, "shared_prompt_scoring": False},
    "lora_plain": {"lora": LORA, "gradient_checkpointing": False, "shared_prompt_scoring": False},
}


def split(log: list[dict[str, Any]]) -> dict[str, float]:
    """Medians over the steps after the first: step, rollout, TRL's batch, and the rest."""
    steps = [row for row in log if "step_time" in row][1:] or [row for row in log if "step_time" in row]
    parts = {
        "step_s": [row["step_time"] for row in steps],
        "rollout_s": [row["cm2/rollout_seconds"] for row in steps],
        "trl_batch_s": [row["cm2/time/trl_batch_s"] for row in steps],
    }
    parts["rest_s"] = [
        s - r - t for s, r, t in zip(parts["step_s"], parts["rollout_s"], parts["trl_batch_s"], strict=True)
    ]
    return {name: round(statistics.median(values), 3) for name, values in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    step_arguments(parser, shape="gemma3-270m", vocab=262_144, dialogues=8, prompt=2400, completion=160, steps=3)
    parser.add_argument("--variants", default="full_ckpt,lora_shared,lora_shared_eager,lora_ckpt")
    args = settle(parser.parse_args())
    names = args.variants.split(",")
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {sorted(VARIANTS)}")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build(Path(tmp) / "model", args.shape, args.vocab)
        for name in names:
            out = Path(tmp) / name
            extra = {"decoder": {"max_batch_size": args.group * args.dialogues, "max_cache_len": 4096}}
            extra.update({key: value for key, value in VARIANTS[name].items() if key != "decoder"})
            extra["decoder"].update(VARIANTS[name].get("decoder", {}))
            config = bench_rl_config(model_dir, args, out, args.dialogues, distinct=True, **extra)
            run_rl(config, make_env=HybridToolSimulator, judge=instant_judge())
            results[name] = split(json.loads((out / "train_log.json").read_text()))
            print(name, results[name], flush=True)
    base = results[names[0]]["rest_s"]
    print(
        f"\n{args.device} {args.shape}, {args.dialogues} groups x {args.group} rows, prompt {args.prompt_len}, "
        f"{args.completion_len} new tokens; medians over steps 2-{args.steps}"
    )
    for name, parts in results.items():
        ratio = parts["rest_s"] / base if base else float("nan")
        print(
            f"{name:18s} step {parts['step_s']:7.2f} s  rollout {parts['rollout_s']:6.2f}  "
            f"trl batch {parts['trl_batch_s']:5.2f}  rest {parts['rest_s']:6.2f}  ({ratio:.2f}x {names[0]}'s rest)"
        )
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
