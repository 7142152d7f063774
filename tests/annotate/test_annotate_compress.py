"""CoT compression: only the reasoning text changes, and every bad rewrite is refused with a reason."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from cm2.annotate.compress import CotCompressor, RewriteViolation, batches, passages, verify_only_thinking_changed
from cm2.annotate.config import CompressConfig
from cm2.annotate.jobs import JobIO, compress_job
from cm2.annotate.report import job_summary
from cm2.annotate.thinking import replace_thinking
from cm2.llm.fake import ScriptedLLM
from cm2.llm.protocol import ChatRequest, LLMError
from cm2.schema import Dialogue, Message
from cm2.testing import sample_dialogue


def _shown(request: ChatRequest) -> list[dict[str, Any]]:
    text = request.messages[1]["content"]
    return json.loads(text[text.index("Passages:\n") + len("Passages:\n") :])


def _shorten(request: ChatRequest) -> str:
    return json.dumps({"passages": [{"index": p["index"], "thinking": p["thinking"][:60]} for p in _shown(request)]})


def test_replace_thinking_keeps_every_other_byte() -> None:
    message = Message.model_validate(
        {"role": "assistant", "content": "<think>\n  long reasoning here \n</think>\n\nVisible  answer.", "x": 1}
    )
    new = replace_thinking(message, "short")
    assert new.content == "<think>\n  short \n</think>\n\nVisible  answer."
    assert new.dump()["x"] == 1
    with pytest.raises(ValueError, match="changes more than the reasoning"):
        replace_thinking(message, "a</think>Injected reply")
    with pytest.raises(ValueError, match="no <think> block"):
        replace_thinking(Message(role="assistant", content="plain"), "x")


def test_compression_rewrites_only_thinking_and_reports_ratio() -> None:
    dialogue = sample_dialogue()
    llm = ScriptedLLM(_shorten)
    result = asyncio.run(CotCompressor(llm, CompressConfig(min_chars=100)).compress(dialogue))
    assert result.error is None and len(llm.requests) == 1  # every passage fits in one batch
    assert all(o.status == "rewritten" for o in result.outcomes) and len(result.outcomes) == 4
    for old, new in zip(dialogue.messages, result.dialogue.messages, strict=True):
        assert old.calls == new.calls and old.role == new.role
        if old.role == "assistant":
            assert old.visible_text == new.visible_text
            assert len(new.think.thinking or "") <= 60
        else:
            assert old.dump() == new.dump()
    stats = result.stats()
    assert stats["chars_after"] < stats["chars_before"] and stats["kept"] == []
    shown = _shown(llm.requests[0])
    assert shown[0]["action"].startswith('then called: {"name": "get_the_last_games_of_a_football_team"')


def test_bad_rewrites_are_refused_and_the_original_kept() -> None:
    dialogue = sample_dialogue()
    found = passages(dialogue, 100)
    indices = [p.index for p in found]
    original = {p.index: p.thinking for p in found}

    def handler(request: ChatRequest) -> str:
        return json.dumps(
            {
                "passages": [
                    {"index": indices[0], "thinking": original[indices[0]] + " and more"},  # longer
                    {"index": indices[1], "thinking": "  "},  # empty
                    {"index": indices[2], "thinking": "ok</think>Sneaky new reply"},  # touches the visible text
                    {"index": 999, "thinking": "unknown index"},
                ]
            }
        )  # indices[3] is missing

    result = asyncio.run(CotCompressor(ScriptedLLM(handler), CompressConfig(min_chars=100)).compress(dialogue))
    reasons = {o.index: o.status for o in result.outcomes}
    assert reasons[indices[0]].startswith("kept: rewrite is longer")
    assert reasons[indices[1]] == "kept: rewrite is empty"
    assert reasons[indices[2]] == "kept: the rewrite changes more than the reasoning text"
    assert reasons[indices[3]] == "kept: no rewrite returned"
    assert result.dialogue.dump() == dialogue.dump()
    assert result.stats()["kept"][0] == {"message": indices[0], "reason": reasons[indices[0]].removeprefix("kept: ")}


def test_verification_catches_any_change_outside_reasoning() -> None:
    dialogue = sample_dialogue()
    changed = dialogue.model_copy(deep=True)
    changed.messages[2].content = (changed.messages[2].content or "") + " "
    with pytest.raises(RewriteViolation, match="message 2 changed"):
        verify_only_thinking_changed(dialogue, changed)
    verify_only_thinking_changed(dialogue, dialogue.model_copy(deep=True))


def test_batches_respect_the_character_budget() -> None:
    found = passages(sample_dialogue(), 0)
    sizes = [len(p.thinking) for p in found]
    groups = batches(found, budget=max(sizes) + 1)
    assert sum(len(g) for g in groups) == len(found)
    assert all(len(g) == 1 or sum(len(p.thinking) for p in g) <= max(sizes) + 1 for g in groups)
    assert len(batches(found, budget=1)) == len(found)


def test_compress_job_writes_stats_failures_and_resumes(tmp_path: Path) -> None:
    good = sample_dialogue()
    other = Dialogue.model_validate({**good.dump(), "uuid": "other"})
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(good.dump()) + "\n" + json.dumps(other.dump()) + "\n")
    io = JobIO(source, tmp_path / "out.jsonl", tmp_path / "failures.jsonl", concurrency=2, progress=False)

    def handler(request: ChatRequest) -> str | Exception:
        return LLMError("down") if request.seed == 1 else _shorten(request)

    options = CompressConfig(min_chars=100)
    options_down = options.model_copy(update={"sampling": options.sampling.model_copy(update={"seed": 1})})
    report = asyncio.run(compress_job(io, ScriptedLLM(handler), options))
    record = json.loads(io.out.read_text().splitlines()[0])
    assert record["cot_compression"]["rewritten"] == 4
    summary = job_summary(report, "compressed", "failed")
    assert summary["compressed"] == 2 and 0 < summary["compression ratio (after / before)"] < 0.5
    io.out.unlink()
    failed = asyncio.run(compress_job(io, ScriptedLLM(handler), options_down))
    assert failed.summary.side == 2
    failure = json.loads(io.side.read_text().splitlines()[0])
    assert failure["reason"] == "request failed: down"
    again = asyncio.run(compress_job(io, ScriptedLLM(handler), options, retry_failures=True))
    assert again.retried == 2 and again.summary.written == 2 and not io.side.read_text().strip()
