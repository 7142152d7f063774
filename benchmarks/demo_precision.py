"""Why `cm2 demo` computes in bfloat16 on the CPU: one training step and one batched `generate`, float32 vs
bfloat16 autocast (float32 master weights, as in the demo's SFT and RL stages), on the same model.

    python benchmarks/demo_precision.py [--model DIR] [--tokens 1280] [--batch 4] [--new 48] [--repeats 2]

Default model: Gemma-3-270M converted by `prepare_gemma270m` (cached). Prints the best of `--repeats` wall
times per case and the speed-up of autocast over float32. Numbers depend on the CPU (avx512_bf16 helps)
and on what else runs on it: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any


def best_of(repeats: int, fn: Callable[[], None]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--tokens", type=int, default=1280, help="Sequence length of the training step.")
    parser.add_argument("--batch", type=int, default=4, help="Sequences generated together.")
    parser.add_argument("--context", type=int, default=1300, help="Prompt tokens of each generated sequence.")
    parser.add_argument("--new", type=int, default=48, help="New tokens per generated sequence.")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from cm2.train.gemma import prepare_gemma270m

    path = args.model or str(prepare_gemma270m())
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    generator = torch.Generator().manual_seed(0)
    step_ids = torch.randint(0, 1000, (1, args.tokens), generator=generator)
    prompt = torch.randint(0, 1000, (args.batch, args.context), generator=generator)

    def train_step() -> None:
        loss = model(step_ids, labels=step_ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def generate() -> None:
        with torch.no_grad():
            model.generate(
                prompt,
                attention_mask=torch.ones_like(prompt),
                max_new_tokens=args.new,
                min_new_tokens=args.new,
                do_sample=False,
            )

    print(f"model {path}; torch threads {torch.get_num_threads()}; load average {os.getloadavg()}")
    for name, fn in (
        (f"train step, {args.tokens} tokens", train_step),
        (f"generate {args.batch} x {args.new} tokens after {args.context}", generate),
    ):
        fp32 = best_of(args.repeats, fn)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = best_of(args.repeats, fn)
        print(f"{name}: float32 {fp32:.1f} s, bf16 autocast {bf16:.1f} s, speed-up {fp32 / bf16:.2f}x")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
