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
from cm2.annotate.reference import label_from_reference
from cm2.llm import LLMConfig, make_client
from cm2.llm.testing import FakeOpenAIServer
from cm2.schema import Dialogue


def _dialogue(n: int) -> Dialogue:
    order = f"ORD-{n:05d}"
    call = {"id": f"c{n}", "type": "function", "function": {"name": "track", "arguments": json.dumps({"id": order})}}
    messages = [
        {"role": "user", "content": f"Where is order {order}?"},
        {"role": "assistant", "content": "<think>\nLook it up.\n</think>", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"c{n}", "content": json.dumps({"status": "shipped"})},
        {"role": "assistant", "content": f"<think>\nReport.\n</think>\n\nOrder {order} has shipped."},
        {"role": "user", "content": f"Thanks for {order}."},
        {"role": "assistant", "content": "<think>\nClose.\n</think>\n\nYou are welcome."},
    ]
    spec = {
        "name": "track",
        "description": "Track an order",
        "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
    }
    return Dialogue.model_validate(
        {"uuid": f"d{n}", "messages": messages, "tools": [{"type": "function", "function": spec}]}
    )


def _responder(dialogues: list[Dialogue]) -> Any:
    answers = {}
    for d in dialogues:
        checklist = label_from_reference(d).checklists[0]
        answers[d.turns()[0].user.content or ""] = json.dumps(
            {"turns": [{"turn": t, "items": turn.dump_items()} for t, turn in enumerate(checklist)]}
        )

    def respond(body: dict[str, Any]) -> str:
        prompt = body["messages"][1]["content"]
        return next(answer for key, answer in answers.items() if key in prompt)

    return respond


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
    dialogues = [_dialogue(i) for i in range(args.dialogues)]
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
