"""The training half of a GRPO step: one group scored as TRL scores it, against its shared prompt run once.

A Gemma-3-shaped model (random weights) scores one group, `--rows` rows holding one prompt of `--prompt` tokens
and completions of `--completion` tokens, with a backward pass, as the loss does for each micro-batch: first
through TRL's fused LM head over every row whole (`cm2.train.trl_adapter` without `shared_prompt_scoring`), then
through `cm2.train.shared_prompt`. Prints the seconds of each (median of `--repeats` after one warm-up), the
ratio, and the largest log-prob difference. Activation checkpointing is off for both, as in the experiment.

    python benchmarks/shared_prompt_scoring.py --device cuda --dtype bfloat16                    # Gemma-3-270M
    python benchmarks/shared_prompt_scoring.py --device cpu --shape tiny-gemma3 --vocab 4096 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from grpo_throughput import build

from cm2.train.shared_prompt import shared_prompt_logps


def timed(step: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> tuple[float, Any]:
    result = step()  # warm-up
    seconds = []
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        result = step()
        sync()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def main() -> None:
    import torch
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="autocast dtype")
    parser.add_argument("--shape", default="gemma3-270m")
    parser.add_argument("--vocab", type=int, default=262_144)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--prompt", type=int, default=2400, help="per-turn prompts: about 2,400 tokens (run 8)")
    parser.add_argument("--completion", type=int, default=160)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter (configs/experiment/rl_lora.yaml)")
    parser.add_argument("--checkpointing", action="store_true", help="activation checkpointing (TRL path only)")
    parser.add_argument("--only", choices=["trl", "shared"], help="time one path only")
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        model: Any = AutoModelForCausalLM.from_pretrained(build(Path(tmp) / "model", args.shape, args.vocab))
    model = model.to(args.device).train()
    add_fused_lm_head(model, temperature=1.0, outputs=("log_probs", "entropy"))
    if args.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if args.lora:  # rank 8 on every linear layer, as `cm2 experiment --rl-lora` trains
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear"))
    dtype = getattr(torch, args.dtype)
    use_autocast = args.dtype != "float32"

    def autocast() -> Any:
        return torch.autocast(args.device, dtype=dtype) if use_autocast else nullcontext()

    prompt = torch.randint(10, args.vocab - 10, (1, args.prompt)).expand(args.rows, -1)
    completion = torch.randint(10, args.vocab - 10, (args.rows, args.completion))
    ids = torch.cat([prompt, completion], dim=1).to(args.device)
    mask = torch.ones_like(ids)
    for row in range(args.rows):  # completions of different lengths, right-padded as TRL pads them
        mask[row, args.prompt + args.completion - row * args.completion // (2 * args.rows) :] = 0
    ids = ids.masked_fill(mask == 0, 0)
    weights = torch.linspace(-1.0, 1.0, args.rows, device=args.device)[:, None]
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)

    def trl_step() -> Any:
        labels = ids.masked_fill(mask == 0, -100)
        labels[:, : args.prompt] = -100
        model.zero_grad()
        with autocast():
            logps = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True).log_probs
        logps = logps[:, -args.completion :]
        (logps * weights).sum().backward()
        return logps.detach()

    def shared_step() -> Any:
        model.zero_grad()
        logps, _ = shared_prompt_logps(
            model, ids, mask, args.completion, temperature=1.0, compute_entropy=True, autocast=autocast
        )
        (logps * weights).sum().backward()
        return logps.detach()

    device = torch.cuda.get_device_name() if args.device == "cuda" else args.device
    print(
        f"{device} | torch {torch.__version__} | {args.shape}, {args.dtype}, {args.rows} rows x "
        f"({args.prompt} prompt + {args.completion} completion), forward and backward"
        + (", LoRA" if args.lora else "")
        + (", activation checkpointing" if args.checkpointing else "")
    )
    if args.only != "shared":
        trl_seconds, trl_logps = timed(trl_step, args.repeats, sync)
        print(f"TRL, every row whole:     {trl_seconds:8.3f} s")
    if args.only != "trl" and not args.checkpointing:  # the shared path needs the cache checkpointing drops
        shared_seconds, shared_logps = timed(shared_step, args.repeats, sync)
        print(f"shared prompt, run once:  {shared_seconds:8.3f} s", end="")
        if args.only is None:
            gap = float((trl_logps.float() - shared_logps.float()).abs().max())
            print(f"   ({trl_seconds / shared_seconds:.2f}x); largest log-prob difference: {gap:.2e}", end="")
        print()


if __name__ == "__main__":
    main()
