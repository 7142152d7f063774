"""`cm2 serve` on a transformers checkpoint: completion tokens/s for N concurrent chat requests with the
server's batch size 1 (requests one after another) vs N (generated together), and the speed-up.

The checkpoint is a tiny random Qwen2 built on the fly unless `--model PATH` names a real one.

    python benchmarks/eval_serve_batching.py [--requests 16] [--max-tokens 64] [--model PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from cm2.eval.checkpoint import CheckpointGenerator
from cm2.llm.server import create_app
from cm2.llm.testing import BackgroundServer, build_tiny_model


async def burst(base_url: str, requests: int, max_tokens: int) -> int:
    """Send `requests` chat requests at once; the completion tokens they produced."""
    async with httpx.AsyncClient(timeout=600) as client:
        bodies = [
            {"messages": [{"role": "user", "content": f"Say something about item {i}."}], "max_tokens": max_tokens}
            for i in range(requests)
        ]
        replies = await asyncio.gather(*(client.post(f"{base_url}/chat/completions", json=b) for b in bodies))
    return sum(int(r.json()["usage"]["completion_tokens"]) for r in replies)


def measure(model: Path, batch: int, requests: int, max_tokens: int) -> tuple[float, int, int]:
    """Seconds, completion tokens and `generate` calls for one burst of `requests`."""
    generator = CheckpointGenerator.load(model, device="cpu", max_batch_size=batch)
    with BackgroundServer(create_app(generator, "bench")) as server:
        base_url = f"{server.url}/v1"
        asyncio.run(burst(base_url, 2, 4))  # warm-up
        calls = generator.policy.generate_calls  # type: ignore[attr-defined]
        start = time.perf_counter()
        tokens = asyncio.run(burst(base_url, requests, max_tokens))
        seconds = time.perf_counter() - start
        return seconds, tokens, generator.policy.generate_calls - calls  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or build_tiny_model(Path(tmp) / "tiny")
        one_s, one_tokens, one_calls = measure(model, 1, args.requests, args.max_tokens)
        many_s, many_tokens, many_calls = measure(model, args.requests, args.requests, args.max_tokens)
    print(f"{args.requests} concurrent requests, up to {args.max_tokens} tokens each, model {model}")
    for batch, seconds, tokens, calls in (
        (1, one_s, one_tokens, one_calls),
        (args.requests, many_s, many_tokens, many_calls),
    ):
        print(f"batch {batch}: {seconds:.2f} s, {tokens / seconds:.0f} completion tokens/s, {calls} generate calls")
    print(f"speed-up: {(many_tokens / many_s) / (one_tokens / one_s):.1f}x")


if __name__ == "__main__":
    main()
