"""Progressive LLM filtering: stages in order, stop at the first flag, records and resume."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

from annotate_builders import multi_call_dialogue

from cm2.annotate.config import LLMFilterConfig
from cm2.annotate.filtering import VERDICT_SCHEMA, DialogueFilter
from cm2.annotate.jobs import JobIO, filter_job
from cm2.llm.fake import ScriptedLLM
from cm2.llm.protocol import ChatRequest, ChatResponse, LLMError, Usage
from cm2.testing.annotation import order_dialogue

KEEP = json.dumps({"keep": True, "reasons": []})


def _reject_at(stage: int) -> ScriptedLLM:
    def handler(request: ChatRequest) -> str:
        if request.seed == stage:
            return json.dumps({"keep": False, "reasons": ["turn 0, step 3: the reply invents a price"]})
        return KEEP

    return ScriptedLLM(handler)


def test_all_stages_run_in_order_when_every_review_keeps() -> None:
    llm = ScriptedLLM(lambda _: KEEP)
    result = asyncio.run(DialogueFilter(llm).run(multi_call_dialogue()))
    assert result.kept and len(result.stages) == 6
    assert [r.reasoning_effort for r in llm.requests] == ["low", "low", "medium", "medium", "high", "high"]
    assert llm.requests[0].json_schema == VERDICT_SCHEMA
    assert [r.seed for r in llm.requests] == [0, 1, 2, 3, 4, 5]  # repeated efforts are independent reviews
    assert "[turn 0, step 1, assistant]" in llm.requests[0].messages[1]["content"]


def test_the_first_flag_stops_the_review() -> None:
    llm = _reject_at(2)
    result = asyncio.run(DialogueFilter(llm).run(multi_call_dialogue()))
    assert not result.kept and len(llm.requests) == 3
    record = result.rejection_record()
    assert record["stage"] == 2 and record["effort"] == "medium" and record["error"] is False
    assert record["reasons"] == ["turn 0, step 3: the reply invents a price"]


def test_a_stage_without_a_usable_verdict_drops_the_dialogue_as_an_error() -> None:
    answers: Iterator[str | ChatResponse] = iter([KEEP, ChatResponse(text='{"keep": "maybe"}', usage=Usage())])
    result = asyncio.run(DialogueFilter(ScriptedLLM(lambda _: next(answers))).run(multi_call_dialogue()))
    record = result.rejection_record()
    assert record["stage"] == 1 and record["error"] is True and "unusable verdict" in record["reasons"][0]
    failing = ScriptedLLM(lambda _: LLMError("endpoint down"))
    down = asyncio.run(DialogueFilter(failing, LLMFilterConfig(stages=["high"])).run(multi_call_dialogue()))
    assert down.rejection_record()["reasons"] == ["request failed: endpoint down"]


def _write(path: Path, n: int) -> list[str]:
    dialogues = [order_dialogue(i) for i in range(n)]
    path.write_text("".join(json.dumps(d.dump()) + "\n" for d in dialogues), encoding="utf-8")
    return [d.uuid for d in dialogues]


def test_filter_job_writes_kept_and_rejected_files_and_resumes(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    ids = _write(source, 6)
    io = JobIO(source, tmp_path / "kept.jsonl", tmp_path / "rejected.jsonl", progress=False)

    def handler(request: ChatRequest) -> str | Exception:
        text = request.messages[1]["content"]
        if "order #1?" in text and request.seed == 3:
            return json.dumps({"keep": False, "reasons": ["no"]})
        if "order #4?" in text:
            return LLMError("down")
        return KEEP

    options = LLMFilterConfig(stages=["low", "medium", "medium", "high"])
    report = asyncio.run(filter_job(io, ScriptedLLM(handler), options))
    kept = [json.loads(line) for line in io.out.read_text().splitlines()]
    rejected = {r["uuid"]: r for r in map(json.loads, io.side.read_text().splitlines())}
    assert sorted(r["uuid"] for r in kept) == [ids[0], ids[2], ids[3], ids[5]]
    assert kept[0] == next(order_dialogue(i).dump() for i in range(6) if ids[i] == kept[0]["uuid"])
    # #4's request failed: neither kept nor rejected, left for the next run
    assert list(rejected) == [ids[1]] and rejected[ids[1]]["stage"] == 3 and report.summary.unfinished == 1
    stages = {row["stage"]: row for row in report.figures["stages"]}
    assert stages[0]["reviewed"] == 6 and stages[0]["errors"] == 1
    assert stages[3] == {"stage": 3, "reviewed": 5, "rejected": 1, "errors": 0, "cost usd": 0.0, "effort": "high"}

    again = asyncio.run(filter_job(io, ScriptedLLM(lambda _: KEEP), options))
    assert again.summary.skipped == 5 and again.summary.written == 1  # #4, reviewed now
    assert len(io.out.read_text().splitlines()) == 5 and len(io.side.read_text().splitlines()) == 1

    # --allow-partial records an outage as a rejection with error: true; --retry-errors reviews it again
    io = JobIO(source, tmp_path / "kept2.jsonl", tmp_path / "rejected2.jsonl", progress=False)
    down = asyncio.run(filter_job(io, ScriptedLLM(lambda _: LLMError("down")), options, allow_partial=True))
    assert down.summary.side == 6 and down.summary.unfinished == 0
    retried = asyncio.run(filter_job(io, ScriptedLLM(lambda _: KEEP), options, retry_errors=True))
    assert retried.retried == 6 and retried.summary.written == 6
