"""The resumable runner: one line per dialogue, skip what is done, bounded concurrency, errors recorded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from cm2.annotate.runner import Done, drop_side_records, run_resumable
from cm2.llm.protocol import Usage
from cm2.schema import Dialogue
from cm2.testing.annotation import order_dialogue


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_bounded_concurrency_duplicates_and_worker_errors(tmp_path: Path) -> None:
    dialogues = [order_dialogue(i) for i in range(10)]
    dialogues.insert(5, order_dialogue(3))  # repeated id in the input
    in_flight = peak = 0

    async def worker(dialogue: Dialogue) -> Done:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        if dialogue.uuid == "syn-0007":
            raise KeyError("boom")
        if dialogue.uuid == "syn-0002":
            return Done("side", {"uuid": dialogue.uuid}, Usage(prompt_tokens=10, cost_usd=0.5))
        return Done("out", {"uuid": dialogue.uuid}, Usage(prompt_tokens=10, cost_usd=0.5))

    out, side = tmp_path / "out.jsonl", tmp_path / "side.jsonl"
    summary = asyncio.run(run_resumable(dialogues, worker, out, side, concurrency=3, progress=False))
    assert peak == 3
    assert (summary.written, summary.side, summary.duplicates, summary.errors) == (8, 2, 1, 1)
    assert summary.usage.cost_usd == 4.5  # the failed worker reported no usage
    errors = [r for r in _lines(side) if r.get("error")]
    assert errors == [{"uuid": "syn-0007", "reason": "internal error: KeyError: 'boom'", "error": True}]
    ids = [r["uuid"] for r in _lines(out) + _lines(side)]
    assert sorted(ids) == sorted({d.uuid for d in dialogues})


def test_rerun_skips_done_ids_and_repairs_a_torn_last_line(tmp_path: Path) -> None:
    dialogues = [order_dialogue(i) for i in range(4)]
    out, side = tmp_path / "out.jsonl", tmp_path / "side.jsonl"
    out.write_text(json.dumps({"uuid": "syn-0000"}) + "\n" + '{"uuid": "syn-0001", "messa')  # killed mid-write
    seen: list[str] = []

    async def worker(dialogue: Dialogue) -> Done:
        seen.append(dialogue.uuid)
        return Done("out", {"uuid": dialogue.uuid})

    summary = asyncio.run(run_resumable(dialogues, worker, out, side, progress=False))
    assert sorted(seen) == ["syn-0001", "syn-0002", "syn-0003"] and summary.skipped == 1
    assert summary.recovered and "torn last line" in summary.recovered[0]
    assert sorted(r["uuid"] for r in _lines(out)) == ["syn-0000", "syn-0001", "syn-0002", "syn-0003"]


def test_drop_side_records_rewrites_only_the_matching_lines(tmp_path: Path) -> None:
    side = tmp_path / "side.jsonl"
    side.write_text("".join(json.dumps({"uuid": str(i), "error": i % 2 == 0}) + "\n" for i in range(5)))
    assert drop_side_records(side, lambda r: bool(r["error"])) == 3
    assert [r["uuid"] for r in _lines(side)] == ["1", "3"]
    assert drop_side_records(tmp_path / "missing.jsonl", lambda r: True) == 0
