"""What compiling the decode step costs per batch bucket, compiled per bucket (`compile_shapes: static`) against
torch's automatic dynamic shapes (`dynamic`), in one run.

Run 5 (`results/learning`) spent about 35-55 s at the start of every stage that decodes (SFT checkpoint
selection, each held-out evaluation, the first probe, the first GRPO step) before its first row came back:
every new batch bucket (64, 32, 16, 8 rows) is a new static shape. Each setting runs in its own process with an
empty inductor cache; each decodes one batch per bucket, largest first, and again (warm), and prints the first
(compile + decode) and the warm seconds per bucket, the totals, and whether the greedy tokens agree.

    python benchmarks/decoder_compile.py                                  # GPU: Gemma-3-270M shape
    python benchmarks/decoder_compile.py --device cpu --shape tiny-gemma3 --cache-len 256 --prompt 64 \
        --tokens 8 --max-batch 16

Measured on the CPU (2 cores, tiny shape, the second command; December 6), two runs: first calls over the four
buckets 52.9 s static against 35.1 s dynamic, then 65.2 s against 48.5 s, the same greedy tokens; warm decoding
0.84x, then 1.36x, the static time. Not yet run on a GPU, where the warm time decides: the default stays static.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from decoder_bench import decoder_arguments


def one_setting(args: argparse.Namespace) -> None:
    import torch
    from decoder_bench import random_model, random_prompts

    from cm2.rollout.decoder import LoopDecoder
    from cm2.rollout.policy import DecoderConfig

    model = random_model(args, torch.bfloat16 if args.device == "cuda" else torch.float32)
    config = DecoderConfig(
        max_batch_size=args.max_batch,
        max_cache_len=args.cache_len,
        cache="static",
        compile="on",
        compile_shapes=args.setting,
    )
    decoder = LoopDecoder(model, config, pad_id=0)
    result: dict[str, object] = {"setting": args.setting, "first": {}, "warm": {}, "tokens": {}}
    for rows in sorted(
        {decoder.static_rows(args.max_batch >> k or 1) for k in range(config.batch_buckets)}, reverse=True
    ):
        contexts = random_prompts(rows, args.prompt, args.vocab)
        for phase in ("first", "warm"):
            out: dict[int, list[int]] = {}
            started = time.perf_counter()
            decoder.run(
                contexts, [args.tokens] * rows, 0.0, 1.0, [], None, lambda r, i, lp, out=out: out.__setitem__(r, i)
            )
            if args.device == "cuda":
                torch.cuda.synchronize()
            result[phase][rows] = round(time.perf_counter() - started, 3)  # type: ignore[index]
        result["tokens"][rows] = [out[r] for r in range(rows)]  # type: ignore[index]
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    decoder_arguments(parser, cache_len=4096, prompt=1000, tokens=32)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--setting", choices=["static", "dynamic"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setting:
        one_setting(args)
        return
    results = {}
    for setting in ("static", "dynamic"):
        with tempfile.TemporaryDirectory() as cache:
            env = os.environ | {"TORCHINDUCTOR_CACHE_DIR": cache}
            command = [sys.executable, __file__, *sys.argv[1:], "--setting", setting]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            sys.exit(f"{setting}: exit {done.returncode}\n{done.stderr[-3000:]}")
        results[setting] = json.loads(lines[-1].removeprefix("RESULT "))
        print(setting, "first", results[setting]["first"], "warm", results[setting]["warm"], flush=True)
    static, dynamic = results["static"], results["dynamic"]
    print(f"{args.shape} on {args.device}: {args.max_batch} rows x {args.cache_len} cache, {args.prompt}-token prompts")
    print(
        f"{'rows':>5}{'static 1st s':>14}{'dynamic 1st s':>15}{'static warm s':>15}{'dynamic warm s':>16}  same tokens"
    )
    for rows in static["first"]:
        same = static["tokens"][rows] == dynamic["tokens"][rows]
        print(
            f"{rows:>5}{static['first'][rows]:>14.2f}{dynamic['first'][rows]:>15.2f}"
            f"{static['warm'][rows]:>15.3f}{dynamic['warm'][rows]:>16.3f}  {same}"
        )
    total = {name: sum(r["first"].values()) for name, r in results.items()}
    warm = {name: sum(r["warm"].values()) for name, r in results.items()}
    print(
        f"first calls, all buckets: static {total['static']:.1f} s, dynamic {total['dynamic']:.1f} s "
        f"({total['static'] / total['dynamic']:.2f}x); warm: dynamic/static {warm['dynamic'] / warm['static']:.2f}"
    )


if __name__ == "__main__":
    main()
