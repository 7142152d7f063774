"""Run one async job per dialogue, several at once, writing each result as one line, resumably.

Every finished dialogue goes to exactly one of two append-only JSONL files: the output, or a side file
(failures, rejections). On start, dialogues whose id is already in either file are skipped, so a run
killed at any moment and started again neither repeats nor loses a dialogue. Results are written in
the order they finish, not the input order. A worker may also call a dialogue *unfinished* (the LLM
endpoint could not be reached): it goes to neither file, so the next run tries it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cm2.console import progress as show_progress
from cm2.data.appender import JsonlAppender
from cm2.llm.protocol import Usage
from cm2.schema import Dialogue

log = logging.getLogger(__name__)

Sink = Literal["out", "side", "unfinished"]
KEY = "uuid"


@dataclass
class Done:
    """The result of one dialogue: which file it goes to, the record, what it cost, and job-specific facts."""

    sink: Sink
    record: dict[str, Any]
    usage: Usage = field(default_factory=Usage)
    info: dict[str, Any] = field(default_factory=dict)


Worker = Callable[[Dialogue], Awaitable[Done]]


@dataclass
class RunSummary:
    """What one run did (dialogues skipped as already done are counted, not processed)."""

    written: int = 0
    side: int = 0
    skipped: int = 0
    duplicates: int = 0
    errors: int = 0
    usage: Usage = field(default_factory=Usage)
    recovered: list[str] = field(default_factory=list)
    unfinished: int = 0
    first_unfinished: str | None = None

    @property
    def processed(self) -> int:
        return self.written + self.side


async def run_resumable(
    dialogues: Iterable[Dialogue],
    worker: Worker,
    out: Path,
    side: Path,
    *,
    concurrency: int = 8,
    total: int | None = None,
    description: str = "working",
    progress: bool = True,
    on_result: Callable[[Done], None] | None = None,
) -> RunSummary:
    """Apply `worker` to every dialogue not yet in `out` or `side`, at most `concurrency` at a time.

    A worker that raises is recorded in `side` with the error (the run goes on); `on_result` sees every
    result once it is written (for per-job statistics).
    """
    summary = RunSummary()
    with JsonlAppender(out) as out_file, JsonlAppender(side) as side_file:
        summary.recovered = [str(f.recovered) for f in (out_file, side_file) if f.recovered is not None]
        done = out_file.keys(KEY) | side_file.keys(KEY)
        started: set[str] = set()
        source: Iterator[Dialogue] = iter(dialogues)

        def next_job() -> Dialogue | None:
            for dialogue in source:
                if dialogue.uuid in done:
                    summary.skipped += 1
                elif dialogue.uuid in started:
                    summary.duplicates += 1
                    log.warning("dialogue %s appears again in the input; the repeat is ignored", dialogue.uuid)
                else:
                    started.add(dialogue.uuid)
                    return dialogue
                tick()
            return None

        async def lane() -> None:
            while (dialogue := next_job()) is not None:
                try:
                    result = await worker(dialogue)
                except Exception as exc:  # one bad dialogue must not stop thousands of others
                    log.exception("dialogue %s failed", dialogue.uuid)
                    summary.errors += 1
                    reason = f"internal error: {type(exc).__name__}: {exc}"
                    result = Done("side", {KEY: dialogue.uuid, "reason": reason, "error": True})
                record = {**result.record, KEY: dialogue.uuid} if KEY not in result.record else result.record
                if result.sink == "unfinished":
                    summary.unfinished += 1
                    if summary.first_unfinished is None:
                        summary.first_unfinished = f"dialogue {dialogue.uuid}: {record.get('reason', '?')}"
                elif result.sink == "out":
                    out_file.write(record)
                    summary.written += 1
                else:
                    side_file.write(record)
                    summary.side += 1
                summary.usage = summary.usage + result.usage
                if on_result is not None:
                    on_result(result)
                tick()

        with show_progress(description, total, enabled=progress) as tick:
            async with asyncio.TaskGroup() as group:  # a failing write stops every lane before files close
                for _ in range(max(1, concurrency)):
                    group.create_task(lane())
    return summary


def drop_side_records(path: Path, predicate: Callable[[dict[str, Any]], bool]) -> int:
    """Rewrite `path` (atomically) without the records matching `predicate`, so they are tried again.

    Returns how many were dropped; a torn last line is dropped too.
    """
    from cm2.data.jsonl import iter_jsonl, write_jsonl

    if not path.exists():
        return 0
    kept: list[dict[str, Any]] = []
    dropped = 0
    for raw in iter_jsonl(path):
        if raw.data is not None and not predicate(raw.data):
            kept.append(raw.data)
        else:
            dropped += 1
    if dropped:
        write_jsonl(path, kept)
    return dropped
