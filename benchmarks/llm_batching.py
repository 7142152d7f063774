"""Generation throughput of TransformersBackend with batching off (max batch 1) vs on (max batch 8).

Concurrent requests are generated together by the backend's worker thread. Default model: the tiny
random Qwen2 from cm2.llm.testing (built in a temporary folder); `--model PATH` measures a real one.

Each setting runs `--repeats` times, interleaved, and the best rate is kept (the machine is shared);
torch uses `--threads` threads (1 by default: spinning threads on a busy 2-core machine distort timings).

Run: .venv/bin/python benchmarks/llm_batching.py [--requests 32] [--new-tokens 32] [--model PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import torch

from cm2.llm.hf_generate import HFGenerator
from cm2.llm.protocol import ChatRequest
from cm2.llm.testing import build_tiny_model
from cm2.llm.transformers_backend import TransformersBackend


async def tokens_per_second(backend: TransformersBackend, requests: int, new_tokens: int) -> float:
    """Completion tokens per second for `requests` concurrent greedy requests."""
    asks = [
        ChatRequest(messages=[{"role": "user", "content": f"Question {i}: what now?"}], max_tokens=new_tokens)
        for i in range(requests)
    ]
    await backend.chat(asks[0])  # warm-up
    start = time.perf_counter()
    responses = await asyncio.gather(*(backend.chat(a) for a in asks))
    return sum(r.usage.completion_tokens for r in responses) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or build_tiny_model(tmp)
        backends = {
            batch: TransformersBackend(HFGenerator(path, device=args.device), max_batch_size=batch) for batch in (1, 8)
        }
        rates = {batch: 0.0 for batch in backends}
        for _ in range(args.repeats):
            for batch, backend in backends.items():
                rate = asyncio.run(tokens_per_second(backend, args.requests, args.new_tokens))
                rates[batch] = max(rates[batch], rate)
        for backend in backends.values():
            backend.close()
    print(f"model: {args.model or 'tiny random Qwen2 (hidden 64, 2 layers)'}, device {args.device}")
    print(f"{args.requests} concurrent requests x {args.new_tokens} new tokens, greedy, best of {args.repeats}")
    for batch, rate in rates.items():
        print(f"max batch {batch}: {rate:8.1f} completion tokens/s")
    print(f"speed-up from batching: {rates[8] / rates[1]:.1f}x")


if __name__ == "__main__":
    main()
