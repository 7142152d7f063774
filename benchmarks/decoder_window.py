"""Window attention in the decode loop (`DecoderConfig.window_attention`), off against on, in one run.

With a static cache every decode step attended over all `--cache-len` slots of every layer; Gemma-3-270M's 15
sliding-window layers (window 512) of 18 masked all but their window out. With `window_attention: on` a
sliding layer is handed its 512 slots only (`cm2.rollout.windowed_cache`). This decodes `--rows` rows of
`--prompt`-token prompts for `--tokens` new tokens both ways, RL's way (float32 weights under bfloat16
autocast, compiled step on the GPU), after one warm-up batch each, and prints the decode time (prefill
excluded), the ratio, how many rows kept the same greedy tokens, and the largest log-prob difference up to
each row's first differing token (random weights give nearly flat logits, where bfloat16 rounding flips greedy
ties: after a flip the two rows score different tokens, which says nothing about the window).

    python benchmarks/decoder_window.py                           # GPU: Gemma-3-270M shape, 8192-slot cache
    python benchmarks/decoder_window.py --device cpu --shape tiny-gemma3 --vocab 4096 --cache-len 2048 \\
        --prompt 1500 --tokens 16 --rows 8

CPU and H100 numbers are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from decoder_bench import decoder_arguments, random_model, random_prompts

from cm2.rollout.decoder import LoopDecoder
from cm2.rollout.policy import DecoderConfig


def decode_seconds(decoder: LoopDecoder, contexts: list[list[int]], tokens: int, device: str) -> tuple[float, Any]:
    """Decode time of the second of two identical batches (the first compiles), and its rows."""
    import torch

    caps = [tokens] * len(contexts)
    rows: dict[int, Any] = {}
    with torch.autocast(device, dtype=torch.bfloat16):
        decoder.run(contexts, caps, 0.0, 1.0, [], None, lambda r, i, lp: None)
        before = decoder.stats.decode_s
        decoder.run(contexts, caps, 0.0, 1.0, [], None, lambda r, i, lp: rows.__setitem__(r, (i, lp)))
    return decoder.stats.decode_s - before, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    decoder_arguments(parser, cache_len=8192, prompt=2500, tokens=128)
    parser.set_defaults(vocab=262144)
    parser.add_argument("--rows", type=int, nargs="+", default=[64, 32])
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="auto", help="the one-token step")
    args = parser.parse_args()
    import torch

    model = random_model(args, torch.float32)
    if args.device == "cuda":  # as cm2 loads Gemma checkpoints there (cm2.llm.attention.attention_kwargs)
        from cm2.llm.attention import register_padded_sdpa

        model.config._attn_implementation = register_padded_sdpa()
    prompt = min(args.prompt, args.cache_len - args.tokens)
    print(
        f"{args.shape} float32 under bf16 autocast on {args.device} ({model.config._attn_implementation}): "
        f"cache {args.cache_len}, prompts {prompt}, {args.tokens} new tokens"
    )
    print(f"{'rows':>5}{'whole s':>10}{'window s':>10}{'speed-up':>10}{'ms/step':>9}  same rows  max |log-prob diff|")
    for n in args.rows:
        contexts = random_prompts(n, prompt, args.vocab)
        timings = {}
        for mode in ("off", "on"):
            config = DecoderConfig(
                max_batch_size=n,
                max_cache_len=args.cache_len,
                batch_buckets=1,
                cache="static",
                compile=args.compile,
                window_attention=mode,
            )
            decoder = LoopDecoder(model, config, pad_id=0)
            assert (decoder.window is not None) == (mode == "on"), "the window does not apply to this model"
            timings[mode] = decode_seconds(decoder, contexts, args.tokens, args.device)
        (whole, old), (window, new) = timings["off"], timings["on"]
        same = sum(old[r][0] == new[r][0] for r in old)
        gap = max(shared_prefix_gap(old[r], new[r]) for r in old)
        step_ms = 1000 * window / args.tokens
        print(
            f"{n:>5}{whole:>10.3f}{window:>10.3f}{whole / window:>9.2f}x{step_ms:>9.2f}  {same:>4}/{n:<4}  {gap:.2e}",
            flush=True,
        )


def shared_prefix_gap(old: tuple[list[int], list[float]], new: tuple[list[int], list[float]]) -> float:
    """The largest log-prob difference over the tokens both rows chose, before the first that differs (from
    there on each row scores its own token)."""
    gap = 0.0
    for token_a, token_b, lp_a, lp_b in zip(old[0], new[0], old[1], new[1], strict=False):
        if token_a != token_b:
            break
        gap = max(gap, abs(lp_a - lp_b))
    return gap


if __name__ == "__main__":
    main()
