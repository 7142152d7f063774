"""File-to-file annotation jobs: read dialogues, run a worker on each, write resumable JSONL outputs.

Each job returns a `JobReport` (the run summary plus unreadable input records); the CLI prints it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cm2.annotate.compress import CotCompressor
from cm2.annotate.config import CompressConfig, LabelConfig, LLMFilterConfig, ReferenceLabelConfig, ValidationConfig
from cm2.annotate.filtering import DialogueFilter
from cm2.annotate.labeler import ChecklistLabeler
from cm2.annotate.reference import label_from_reference
from cm2.annotate.runner import Done, RunSummary, Worker, drop_side_records, run_resumable
from cm2.annotate.tally import CompressTally, FilterTally, LabelTally, ReferenceTally, Tally
from cm2.annotate.validate import checklist_problems
from cm2.data.errors import no_usable_records
from cm2.llm.protocol import LLMClient, Usage
from cm2.schema import Dialogue


@dataclass
class JobReport:
    """What a job did: the run summary, input records that could not be read, side records retried, and the
    job's own figures (see `tally`)."""

    summary: RunSummary
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    retried: int = 0
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobIO:
    """Where a job reads and writes. `side` gets failures (labeling, compression) or rejections (filtering)."""

    source: Path
    out: Path
    side: Path
    fmt: str | None = None
    concurrency: int = 8
    progress: bool = True
    check_checklists: bool = True
    """Refuse dialogues whose checklists are unsound (off where the job writes new checklists)."""


def usable_input(io: JobIO) -> list[tuple[str, str]]:
    """Read the whole input once before anything is spent: its bad records, each `(location, message)`.

    Raises `NoUsableRecordsError` when not one dialogue is usable, `UnreadableFileError` when the file
    cannot be read on.
    """
    from cm2.data.io import read_dialogues

    problems: list[tuple[str, str]] = []
    usable = sum(1 for _ in read_dialogues(io.source, io.fmt, errors=problems, checked=io.check_checklists))
    if not usable:
        raise no_usable_records(io.source, problems)
    return problems


def _count(path: Path, fmt: str | None) -> int | None:
    """How many records the input holds, when that is cheap to know (for the progress bar)."""
    from cm2.data.io import count_records, file_format

    kind = file_format(path, fmt)
    if kind == "jsonl" and path.is_file() and not path.name.endswith(".gz"):
        with open(path, "rb") as handle:
            return sum(1 for line in handle if line.strip())
    return count_records(path, fmt)


async def _run(
    io: JobIO, worker: Worker, tally: Tally, description: str, retry: Callable[[dict[str, Any]], bool] | None
) -> JobReport:
    from cm2.data.io import read_dialogues

    if not io.source.exists():
        raise FileNotFoundError(f"{io.source}: no such file or directory")
    if os.path.abspath(io.out) == os.path.abspath(io.side):
        raise ValueError(f"{io.out}: the output and the side file must differ")
    unreadable = usable_input(io)
    retried = drop_side_records(io.side, retry) if retry is not None else 0
    dialogues: Iterator[Dialogue] = read_dialogues(io.source, io.fmt, errors=[], checked=io.check_checklists)
    summary = await run_resumable(
        dialogues,
        worker,
        io.out,
        io.side,
        concurrency=io.concurrency,
        total=_count(io.source, io.fmt),
        description=description,
        progress=io.progress,
        on_result=tally.add,
    )
    return JobReport(summary, unreadable, retried, tally.figures())


async def label_job(
    io: JobIO,
    client: LLMClient,
    options: LabelConfig,
    *,
    retry_failures: bool = False,
    allow_partial: bool = False,
) -> JobReport:
    """Write per-turn checklists for every dialogue of SOURCE into OUT (released CM2 format).

    With an LLM, each checklist is validated (evidence, dependencies, weights, checks) and the problems are sent
    back to the model for repair (`label.*` settings). Checklists already in SOURCE are replaced. Each item's
    `extra_info.price_usd` is the cost of the conversation that wrote its checklist. Rerunning skips dialogues
    already in OUT or in the failures file. A dialogue whose last request failed for good (endpoint down, refused,
    timing out) is written nowhere and the command exits 1: rerun to retry it.
    """
    labeler = ChecklistLabeler(client, options)

    async def work(dialogue: Dialogue) -> Done:
        result = await labeler.label(dialogue)
        info = {
            "rounds": [s.rounds for s in result.samples],
            "ok": sum(s.checklist is not None for s in result.samples),
        }
        if result.ok:
            return Done("out", result.labeled_record(), result.usage, info)
        if result.unfinished and not allow_partial:
            why = next(s.problems[0] for s in result.samples if s.unavailable and s.problems)
            return Done("unfinished", {"uuid": dialogue.uuid, "reason": why}, result.usage, info)
        return Done("side", result.failure_record(), result.usage, info)

    return await _run(io, work, LabelTally(), "labeling", (lambda _: True) if retry_failures else None)


async def reference_label_job(io: JobIO, options: ReferenceLabelConfig) -> JobReport:
    """`cm2 label --from-reference-calls`: deterministic checklists, no LLM."""
    checks = ValidationConfig(require_items=False)

    async def work(dialogue: Dialogue) -> Done:
        labeled = label_from_reference(dialogue, options)
        checklist = labeled.checklists[0]
        problems = checklist_problems(labeled, checklist, checks)
        if not any(turn.items for turn in checklist):
            problems.append("no tool call and no final reply to make an item of")
        if problems:
            return Done("side", {"uuid": dialogue.uuid, "reason": "; ".join(problems)})
        return Done("out", labeled.dump(), Usage(), {"items": sum(len(t.items) for t in checklist)})

    return await _run(io, work, ReferenceTally(), "labeling from reference calls", None)


async def filter_job(
    io: JobIO,
    client: LLMClient,
    options: LLMFilterConfig,
    *,
    retry_errors: bool = False,
    allow_partial: bool = False,
) -> JobReport:
    """Keep the dialogues every LLM review stage accepts (`filter.stages`, e.g. --set 'filter.stages=[low,
    medium]'); the first stage that flags one drops it (with stage and reasons in OUT.rejected.jsonl).

    A dialogue whose review request failed for good (endpoint down, refused, timing out) is written nowhere and
    the command exits 1: rerun to review it.
    """
    reviewer = DialogueFilter(client, options)

    async def work(dialogue: Dialogue) -> Done:
        result = await reviewer.run(dialogue)
        info = {"stages": [{"stage": s.stage, "keep": s.keep, "cost_usd": s.usage.cost_usd} for s in result.stages]}
        if result.kept:
            return Done("out", dialogue.dump(), result.usage, info)
        if result.unfinished and not allow_partial:
            reason = result.stages[-1].reasons[0]
            return Done("unfinished", {"uuid": dialogue.uuid, "reason": reason}, result.usage, info)
        return Done("side", result.rejection_record(), result.usage, info)

    retry = (lambda r: bool(r.get("error"))) if retry_errors else None
    return await _run(io, work, FilterTally(list(options.stages)), "filtering", retry)


async def compress_job(
    io: JobIO, client: LLMClient, options: CompressConfig, *, retry_failures: bool = False
) -> JobReport:
    """Shorten the `<think>` text of every assistant message; all else stays byte-identical (verified).

    A rewrite that is empty, longer than the original or touches anything else is refused and the original kept;
    each output record says so under `cot_compression`.
    """
    compressor = CotCompressor(client, options)

    async def work(dialogue: Dialogue) -> Done:
        result = await compressor.compress(dialogue)
        stats = result.stats()
        if result.error is not None:
            return Done("side", {"uuid": dialogue.uuid, "reason": result.error, **stats}, result.usage, stats)
        return Done("out", {**result.dialogue.dump(), "cot_compression": stats}, result.usage, stats)

    return await _run(io, work, CompressTally(), "compressing", (lambda _: True) if retry_failures else None)
