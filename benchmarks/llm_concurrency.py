"""Throughput of the OpenAI backend at concurrency 1 vs 32 against a local server with 50 ms latency.

Also compares the bare HTTP clients at concurrency 32 (httpx vs httpx2, which the backend uses): client
CPU time per request decides how far concurrency scales on a small machine.

Run: .venv/bin/python benchmarks/llm_concurrency.py [--requests 200] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from types import ModuleType

import httpx
import httpx2

from cm2.llm.config import LLMConfig
from cm2.llm.openai_backend import OpenAIBackend
from cm2.llm.protocol import ChatRequest
from cm2.llm.testing import FakeOpenAIServer


async def backend_rate(base_url: str, requests: int, concurrency: int) -> float:
    """Requests per second for `requests` chats sent with at most `concurrency` in flight."""
    config = LLMConfig(model="bench", base_urls=[base_url], max_concurrency=concurrency, api_key_env=None)
    async with OpenAIBackend(config) as backend:
        await backend.chat(ChatRequest(messages=[{"role": "user", "content": "warm up"}]))
        start = time.perf_counter()
        await asyncio.gather(
            *(backend.chat(ChatRequest(messages=[{"role": "user", "content": f"q{i}"}])) for i in range(requests))
        )
        return requests / (time.perf_counter() - start)


async def client_rate(module: ModuleType, url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """(requests/s, client CPU ms per request) of a bare AsyncClient posting the same body."""
    body = {"model": "bench", "messages": [{"role": "user", "content": "q"}]}
    limit = asyncio.Semaphore(concurrency)
    limits = module.Limits(max_connections=100, max_keepalive_connections=concurrency)
    async with module.AsyncClient(limits=limits) as http:
        await http.post(url, json=body)

        async def one() -> None:
            async with limit:
                (await http.post(url, json=body)).json()

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one() for _ in range(requests)))
        return requests / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05, help="Simulated server latency in seconds.")
    args = parser.parse_args()
    with FakeOpenAIServer(latency_s=args.latency) as server:
        serial = asyncio.run(backend_rate(server.base_url, args.requests, 1))
        parallel = asyncio.run(backend_rate(server.base_url, args.requests, 32))
        url = f"{server.base_url}/chat/completions"
        clients = {m.__name__: asyncio.run(client_rate(m, url, args.requests, 32)) for m in (httpx, httpx2)}
    print(f"requests: {args.requests}, server latency: {args.latency * 1000:.0f} ms (server in the same process)")
    print(f"OpenAIBackend, concurrency  1: {serial:7.1f} requests/s")
    print(f"OpenAIBackend, concurrency 32: {parallel:7.1f} requests/s")
    print(f"speed-up: {parallel / serial:.1f}x (ideal {min(32, args.requests)}x)")
    for name, (rate, cpu_ms) in clients.items():
        rate_text = f"{rate:7.1f} requests/s, {cpu_ms:.2f} ms CPU per request (client + server)"
        print(f"bare {name:6s} client, concurrency 32: {rate_text}")


if __name__ == "__main__":
    main()
