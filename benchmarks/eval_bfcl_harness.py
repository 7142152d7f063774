"""BFCL harness: accuracy of a perfect model, and entries/s at concurrency 1 vs N.

A test server answers every turn with the entry's ground-truth calls after `--latency-ms` (standing in
for a model); the harness runs BFCL's loop on the real backends and scores with bfcl_eval's checker, so
a correct harness scores 100%. The same entries are run with `--concurrency` 1 and N.

    python benchmarks/eval_bfcl_harness.py [--entries 40] [--concurrency 16] [--latency-ms 50] [--full]

`--full` first scores every entry of the four multi-turn categories (800) with the perfect model.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from cm2.benchmarks.bfcl.environment import MULTI_TURN_CATEGORIES
from cm2.benchmarks.bfcl.evaluate import BfclConfig, evaluate_bfcl
from cm2.benchmarks.bfcl.testing import GroundTruthReplay
from cm2.eval.results import EvalResult
from cm2.llm.testing import FakeOpenAIServer
from cm2.rollout.endpoint_policy import EndpointPolicy


def run(ids: list[str], concurrency: int, latency_s: float) -> tuple[EvalResult, float, int]:
    with FakeOpenAIServer(GroundTruthReplay(ids), latency_s=latency_s) as server:
        policy = EndpointPolicy.connect(server.base_url, "perfect", send_max_tokens=False)
        settings = BfclConfig(ids=ids, concurrency=concurrency)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            result = asyncio.run(evaluate_bfcl(policy, settings, model="perfect", out_dir=out))
        return result, time.perf_counter() - start, server.request_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=40, help="multi_turn_base entries timed")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--full", action="store_true", help="score all 800 multi-turn entries first")
    args = parser.parse_args()
    if args.full:
        for category in MULTI_TURN_CATEGORIES:
            ids = [f"{category}_{i}" for i in range(200)]
            result, seconds, requests = run(ids, 32, 0.0)
            score = f"{100 * result.overall:.1f}% of {result.n}"
            print(f"{category}: perfect model {score} ({seconds:.1f} s, {requests} requests)")
    ids = [f"multi_turn_base_{i}" for i in range(args.entries)]
    serial, t1, requests = run(ids, 1, args.latency_ms / 1000)
    parallel, tn, _ = run(ids, args.concurrency, args.latency_ms / 1000)
    print(f"{args.entries} entries, {requests} model requests of {args.latency_ms:.0f} ms each")
    print(f"concurrency 1: {t1:.2f} s ({args.entries / t1:.2f} entries/s), accuracy {100 * serial.overall:.1f}%")
    print(
        f"concurrency {args.concurrency}: {tn:.2f} s ({args.entries / tn:.2f} entries/s), "
        f"accuracy {100 * parallel.overall:.1f}%"
    )
    print(f"speed-up: {t1 / tn:.1f}x")


if __name__ == "__main__":
    main()
