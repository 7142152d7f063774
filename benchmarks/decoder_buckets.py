"""A few rows decoded in a static cache sized for them against the full-size cache, in one run.

In a GRPO step the first round of episode steps fills the decoder (8 tasks x 8 rollouts = 64 rows); the later
rounds carry the few episodes still calling tools (1-6 rows in the CPU trace of the rollout-timing work). The
static cache makes every decode step attend over all `max_batch_size` rows x `max_cache_len` positions, so
those later rounds cost as much per token as a full one. `DecoderConfig.batch_buckets` gives smaller batches a
smaller cache. This times `--rows` rows decoding `--tokens` tokens with buckets (the cache that holds them)
and without (`batch_buckets: 1`), same model, prompts and greedy tokens, after one warm-up batch each
(compilation on the GPU).

    python benchmarks/decoder_buckets.py                          # GPU: Gemma-3-270M shape, 64 x 8192 cache
    python benchmarks/decoder_buckets.py --device cpu --shape tiny-gemma3 --max-batch 32 --cache-len 1024

Measured on one H100 (December 6, bf16, 3,500-token prompts, 64 new tokens, compiled step): 4 rows 0.759 s in
the 64-row cache, 0.210 s in the 8-row one (3.62x, the same greedy tokens); 16 rows 0.902 s against 0.424 s
(2.13x; the greedy tokens differ: bf16 kernels vary with the batch shape and a random-weight model's logits are
nearly tied). With `--compile off` the gain vanishes (4 rows, 32 tokens: 0.774 s against 0.737 s) because
eager kernel launches, not the cache, set the pace. CPU, tiny shape (`--max-batch 32 --cache-len 1024 --prompt
500 --tokens 32`): 1.28x at 4 rows, tokens equal.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from decoder_bench import decoder_arguments, random_model, random_prompts

from cm2.rollout.decoder import LoopDecoder
from cm2.rollout.policy import DecoderConfig


def timed(decoder: LoopDecoder, contexts: list[list[int]], tokens: int, device: str) -> tuple[float, list[list[int]]]:
    import torch

    rows: dict[int, list[int]] = {}
    decoder.run(contexts, [tokens] * len(contexts), 0.0, 1.0, [], None, lambda r, i, lp: rows.__setitem__(r, i))
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    decoder.run(contexts, [tokens] * len(contexts), 0.0, 1.0, [], None, lambda r, i, lp: rows.__setitem__(r, i))
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started, [rows[r] for r in range(len(contexts))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    decoder_arguments(parser, cache_len=8192, prompt=3500, tokens=64)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--rows", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="auto", help="the one-token step")
    args = parser.parse_args()
    import torch

    model = random_model(args, torch.bfloat16 if args.device == "cuda" else torch.float32)
    prompt = min(args.prompt, args.cache_len - args.tokens)
    print(f"{args.shape} on {args.device}: cache {args.max_batch} rows x {args.cache_len}, prompts of {prompt} tokens")
    print(f"{'rows':>5}{'full cache s':>14}{'bucket s':>10}{'bucket rows':>13}{'speed-up':>10}  same tokens")
    for n in args.rows:
        contexts = random_prompts(n, prompt, args.vocab)
        results = {}
        for buckets in (1, 4):
            config = DecoderConfig(
                max_batch_size=args.max_batch,
                max_cache_len=args.cache_len,
                batch_buckets=buckets,
                cache="static",
                compile=args.compile,
            )
            decoder = LoopDecoder(model, config, pad_id=0)
            results[buckets] = (*timed(decoder, contexts, args.tokens, args.device), decoder.static_rows(n))
        (full, full_ids, _), (bucket, bucket_ids, rows) = results[1], results[4]
        print(
            f"{n:>5}{full:>14.3f}{bucket:>10.3f}{rows:>13}{full / bucket:>9.2f}x  {full_ids == bucket_ids}", flush=True
        )


if __name__ == "__main__":
    main()
