"""RL's mixed precision in the decode loop: a float32 model under bfloat16 autocast, its static KV cache kept in
float32 (before) against bfloat16 (`cm2.rollout.decoder._storing`), in one run.

GRPO keeps float32 master weights and samples under autocast; the keys and values come out in float32, so the
cache held twice the bytes every decode step reads in full. This times `--rows` rows decoding `--tokens` tokens
both ways (same model, prompts, greedy decoding), after one warm-up batch each (compilation on the GPU), and
checks that the tokens and log-probs are the same (attention casts the cache to bfloat16 either way).

    python benchmarks/decoder_cache_dtype.py                      # GPU: Gemma-3-270M shape, 64 x 8192 cache
    python benchmarks/decoder_cache_dtype.py --device cpu --shape tiny-gemma3 --cache-len 1024 --prompt 500 --rows 4

Measured on one H100 (December 6; random weights of Gemma-3-270M's shape, 3,500-token prompts, 32 new tokens,
compiled step, `--rows 64 16 --tokens 32`): 64 rows 1.939 s with the float32 cache, 1.204 s with bfloat16
(1.61x); 16 rows 0.530 s against 0.349 s (1.52x). The greedy tokens are the same; the log-probs differ by up to
0.016 (GPU kernels differ with the input dtype). CPU, tiny shape (the second command, 16 tokens): 1.27x, tokens
and log-probs identical. Its effect on a whole GRPO step is not measured.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from decoder_bench import decoder_arguments, random_model, random_prompts

import cm2.rollout.decoder as decoder_module
from cm2.rollout.policy import DecoderConfig


def float32_cache(layer_class: Any, dtype: Any) -> Any:
    """The cache layer as it was: it keeps whatever dtype the model hands it."""
    return lambda length: layer_class(max_cache_len=length)


def timed(decoder: Any, contexts: list[list[int]], tokens: int, device: str) -> tuple[float, dict[int, Any]]:
    import torch

    rows: dict[int, Any] = {}
    with torch.autocast(device, dtype=torch.bfloat16):
        decoder.run(contexts, [tokens] * len(contexts), 0.0, 1.0, [], None, lambda r, i, lp: None)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        decoder.run(
            contexts, [tokens] * len(contexts), 0.0, 1.0, [], None, lambda r, i, lp: rows.__setitem__(r, (i, lp))
        )
        if device == "cuda":
            torch.cuda.synchronize()
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    decoder_arguments(parser, cache_len=8192, prompt=3500, tokens=32)
    parser.add_argument("--rows", type=int, nargs="+", default=[64, 16])
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="auto", help="the one-token step")
    args = parser.parse_args()
    import torch

    model = random_model(args, torch.float32)
    prompt = min(args.prompt, args.cache_len - args.tokens)
    print(f"{args.shape} float32 under bf16 autocast on {args.device}: cache len {args.cache_len}, prompts {prompt}")
    print(f"{'rows':>5}{'f32 cache s':>13}{'bf16 cache s':>14}{'speed-up':>10}  same tokens  max |log-prob diff|")
    storing = decoder_module._storing
    for n in args.rows:
        contexts = random_prompts(n, prompt, args.vocab)
        results = {}
        for name, layer in (("f32", float32_cache), ("bf16", storing)):
            decoder_module._storing = layer
            config = DecoderConfig(
                max_batch_size=n, max_cache_len=args.cache_len, batch_buckets=1, cache="static", compile=args.compile
            )
            results[name] = timed(
                decoder_module.LoopDecoder(model, config, pad_id=0), contexts, args.tokens, args.device
            )
        decoder_module._storing = storing
        (before, old), (after, new) = results["f32"], results["bf16"]
        same = all(old[r][0] == new[r][0] for r in old)
        gap = max(abs(a - b) for r in old for a, b in zip(old[r][1], new[r][1], strict=False))
        print(f"{n:>5}{before:>13.3f}{after:>14.3f}{before / after:>9.2f}x  {same!s:>11}  {gap:.2e}", flush=True)


if __name__ == "__main__":
    main()
