"""Wall time of `cm2 label` against an endpoint with a fixed latency, by how many dialogues run at once.

    .venv/bin/python benchmarks/label_concurrency.py [--dialogues 48] [--latency 0.2] [--levels 1,4,16]

The endpoint is cm2.llm.testing's real HTTP server on 127.0.0.1 answering every labeling request, after
`--latency` seconds, with a valid checklist (the deterministic one of the dialogue), so each dialogue costs
exactly one request. Each level labels the same synthetic two-turn dialogues into a fresh output file;
the speed-up is the wall time of concurrency 1 divided by that of the level (ideal: the level itself,
bounded by the client's `max_concurrency`, here 32).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from cm2.annotate.config import LabelConfig
from cm2.annotate.jobs import JobIO, label_job
from cm2.llm import LLMConfig, make_client
from cm2.llm.testing import FakeOpenAIServer
from cm2.schema import Dialogue
from cm2.testing.annotation import find_dialogue, order_dialogue, reference_answer


def _responder(dialogues: list[Dialogue]) -> Any:
    """Answers each labeling request with the dialogue's deterministic checklist (computed once)."""
    answers = {d.uuid: json.dumps(reference_answer(d)) for d in dialogues}
    return lambda body: answers[find_dialogue(body["messages"], dialogues).uuid]


async def _label(source: Path, out: Path, url: str, concurrency: int) -> float:
    config = LLMConfig(model="fake-model", base_urls=[url], api_key_env=None, max_concurrency=32)
    client = make_client(config)
    io = JobIO(source, out, out.with_suffix(".failures.jsonl"), concurrency=concurrency, progress=False)
    start = time.perf_counter()
    report = await label_job(io, client, LabelConfig())
    elapsed = time.perf_counter() - start
    assert report.summary.written == sum(1 for _ in source.open()), "every dialogue must be labeled"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dialogues", type=int, default=48)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--levels", default="1,4,16")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    dialogues = [order_dialogue(i) for i in range(args.dialogues)]
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeOpenAIServer(_responder(dialogues), latency_s=args.latency) as server,
    ):
        source = Path(tmp) / "in.jsonl"
        source.write_text("".join(json.dumps(d.dump()) + "\n" for d in dialogues))
        times = {
            level: asyncio.run(_label(source, Path(tmp) / f"out{level}.jsonl", server.base_url, level))
            for level in levels
        }
    base = times[levels[0]]
    print(f"{args.dialogues} dialogues, endpoint latency {args.latency:.2f}s, one request per dialogue")
    for level in levels:
        print(
            f"concurrency {level:>3}: {times[level]:7.2f}s  {args.dialogues / times[level]:7.1f} dialogues/s  "
            f"speed-up ×{base / times[level]:.1f} vs concurrency {levels[0]}"
        )


if __name__ == "__main__":
    main()
