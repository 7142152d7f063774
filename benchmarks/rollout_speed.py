"""In-process rollouts, old path against new, and cm2's GRPO step against stock TRL's, in one run.

Same GPU, model and batch for every line. The model is Gemma-3-270M-shaped with random weights (speed
does not depend on the values) and a word-level tokenizer over its whole vocabulary, built offline.

- old: transformers' `generate` with a dynamic cache and eager attention (the path at 7104e4a; its
  per-step full-vocabulary scores are gone, which only makes it faster).
- new: cm2's decode loop, static cache + torch.compile (CUDA graphs), padding-safe SDPA (`cm2_sdpa`),
  shared group prompts prefilled once. Its one-time warm-up (compilation) is printed apart.

Parts: rollout tokens/s (`DecoderConfig` engines, `--groups` prompts x `--group` rows), then one GRPO step
each of stock TRL, cm2 old and cm2 new (rollout phase and step tokens/s, after a warm-up step).

    python benchmarks/rollout_speed.py                                   # GPU: Gemma-3-270M shape
    python benchmarks/rollout_speed.py --device cpu --tiny               # CPU: tiny Gemma 3 shape
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from grpo_throughput import bench_rl_config, build, instant_judge, stock_trl, tokens_per_second

from cm2.llm.attention import register_padded_sdpa
from cm2.rollout.hf_policy import TransformersPolicy
from cm2.rollout.policy import DecoderConfig, SamplingConfig
from cm2.tools import HybridToolSimulator
from cm2.train.grpo import run_rl

PATHS = {
    "old": ({"engine": "generate"}, "eager"),
    "new": ({"engine": "loop"}, "cm2_sdpa"),
}


def load(model_dir: Path, args: argparse.Namespace, attention: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if args.device == "cpu" and attention != "eager":
        attention = "sdpa"  # the library's default there (see cm2.llm.attention)
    register_padded_sdpa()
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=getattr(torch, args.dtype), attn_implementation=attention
    )
    return model.to(args.device).eval(), AutoTokenizer.from_pretrained(model_dir)


def decoder(args: argparse.Namespace, engine: dict[str, Any]) -> DecoderConfig:
    length = args.prompt_len + args.completion_len + 64
    return DecoderConfig(**engine, max_batch_size=args.group * args.groups, max_cache_len=length)


def rollout_tokens_per_s(model_dir: Path, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Generated tokens per second of each path: one warm-up batch each (timed apart), then `--repeats`
    rounds that time one batch of every path in turn, so a machine's changing load hits both alike."""
    import torch

    prompts = [[10 + (g * 7919 + i) % (args.vocab - 20) for i in range(args.prompt_len)] for g in range(args.groups)]
    contexts = [p for p in prompts for _ in range(args.group)]
    if args.distinct_prompts:
        contexts = [
            [10 + (r * 7919 + i) % (args.vocab - 20) for i in range(args.prompt_len)] for r in range(len(contexts))
        ]
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=args.completion_len, seed=0)
    policies = {}
    for name, (engine, attention) in PATHS.items():
        model, tokenizer = load(model_dir, args, attention)
        policies[name] = TransformersPolicy(model, tokenizer, decoder=decoder(args, engine))

    def timed(policy: TransformersPolicy) -> tuple[float, int]:
        if args.device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        generations = policy.generate(contexts, sampling)
        if args.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, sum(len(g.token_ids) for g in generations)

    result = {name: {"warmup_s": timed(policy)[0], "seconds": 0.0, "tokens": 0.0} for name, policy in policies.items()}
    for _ in range(args.repeats):
        for name, policy in policies.items():
            seconds, tokens = timed(policy)
            result[name]["seconds"] += seconds
            result[name]["tokens"] += tokens
    for figures in result.values():
        figures["tokens_per_s"] = figures["tokens"] / figures["seconds"]
        figures["batch_s"] = figures["seconds"] / args.repeats
    return result


def cm2_step(model_dir: Path, args: argparse.Namespace, out: Path, name: str) -> dict[str, Any]:
    """cm2's GRPO on one-turn episodes of the benchmark prompt; step tokens/s and rollout seconds."""
    engine, attention = PATHS[name]
    model, tokenizer = load(model_dir, args, attention)
    config = bench_rl_config(model_dir, args, out, args.groups, decoder=decoder(args, engine).model_dump())
    model.train()
    run_rl(config, make_env=HybridToolSimulator, judge=instant_judge(), model=model, tokenizer=tokenizer)
    log = json.loads((out / "train_log.json").read_text())
    rate, times = tokens_per_second(log)
    rollout = [float(e["cm2/rollout_seconds"]) for e in log if "cm2/rollout_seconds" in e]
    measured = rollout[1:] or rollout
    return {
        "tokens_per_s": rate,
        "step_s": times,
        "rollout_s": rollout,
        "rollout_mean_s": sum(measured) / len(measured),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="tiny Gemma 3 shape, short lengths (CPU)")
    parser.add_argument("--group", type=int, default=8, help="rollouts per prompt (a GRPO group)")
    parser.add_argument("--groups", type=int, default=4, help="prompts per batch / GRPO step")
    parser.add_argument("--prompt-len", type=int, default=2048)
    parser.add_argument("--completion-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2, help="timed rollout batches per path")
    parser.add_argument("--steps", type=int, default=3, help="GRPO steps per trainer (the first is warm-up)")
    parser.add_argument("--skip-grpo", action="store_true")
    parser.add_argument(
        "--distinct-prompts", action="store_true", help="rollout part: every row its own prompt (no shared prefill)"
    )
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    shape, args.vocab, args.dtype = "gemma3-270m", 262_144, "bfloat16"
    if args.tiny:
        shape, args.vocab, args.prompt_len, args.completion_len = "tiny-gemma3", 4096, 96, 24
    if args.device == "cpu":
        args.dtype = "float32"
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    result: dict[str, Any] = {
        "shape": shape,
        "batch": args.group * args.groups,
        "prompt_len": args.prompt_len,
        "completion_len": args.completion_len,
        "device": device_name(args.device),
        "distinct_prompts": args.distinct_prompts,
    }
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build(Path(tmp) / "model", shape, args.vocab)
        result["rollout"] = rollout_tokens_per_s(model_dir, args)
        print_rollout(result)
        if not args.skip_grpo:
            args.dialogues = args.groups
            started = time.perf_counter()
            stock_rate, stock_times = stock_trl(model_dir, args, Path(tmp) / "stock")
            result["stock_trl"] = {
                "tokens_per_s": stock_rate,
                "step_s": stock_times,
                "wall_s": time.perf_counter() - started,
            }
            for name in ("old", "new"):
                result[f"cm2_{name}"] = cm2_step(model_dir, args, Path(tmp) / name, name)
            print_grpo(result)
    print(json.dumps(result, indent=1, default=lambda v: round(v, 3) if isinstance(v, float) else v))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name() if device == "cuda" else "cpu"


def print_rollout(result: dict[str, Any]) -> None:
    old, new = result["rollout"]["old"], result["rollout"]["new"]
    shared = "distinct prompts" if result["distinct_prompts"] else "shared group prompts"
    print(
        f"\n{result['device']} | {result['shape']} | batch {result['batch']} ({shared}) "
        f"| prompt {result['prompt_len']} | new tokens {result['completion_len']}"
    )
    print(f"{'rollout':<34}{'old':>12}{'new':>12}{'new/old':>10}")
    print(
        f"{'  generated tokens/s':<34}{old['tokens_per_s']:>12,.0f}{new['tokens_per_s']:>12,.0f}"
        f"{new['tokens_per_s'] / old['tokens_per_s']:>9.2f}x"
    )
    print(f"{'  seconds per batch':<34}{old['batch_s']:>12.2f}{new['batch_s']:>12.2f}")
    print(f"{'  first batch (warm-up) seconds':<34}{old['warmup_s']:>12.1f}{new['warmup_s']:>12.1f}")


def print_grpo(result: dict[str, Any]) -> None:
    stock, old, new = result["stock_trl"], result["cm2_old"], result["cm2_new"]
    print(f"{'GRPO step':<34}{'stock TRL':>12}{'cm2 old':>12}{'cm2 new':>12}")
    print(
        f"{'  rollout phase seconds':<34}{'':>12}{old['rollout_mean_s']:>12.2f}{new['rollout_mean_s']:>12.2f}"
        f"   old/new {old['rollout_mean_s'] / new['rollout_mean_s']:.2f}x"
    )
    print(
        f"{'  step tokens/s':<34}{stock['tokens_per_s']:>12,.0f}{old['tokens_per_s']:>12,.0f}"
        f"{new['tokens_per_s']:>12,.0f}   cm2 new/stock {new['tokens_per_s'] / stock['tokens_per_s']:.2f}x"
    )
    print(f"{'  step seconds':<34}{fmt(stock['step_s']):>12}{fmt(old['step_s']):>12}{fmt(new['step_s']):>12}")


def fmt(values: list[float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    main()
