"""Dataset statistics: per-dialogue sizes, aggregated into summaries and histograms.

Streaming: dialogues are measured in small batches (so a real tokenizer encodes many texts per call)
and only their numbers are kept, one integer per dialogue per metric.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from cm2.data.shape import dialogue_shape
from cm2.data.tokens import TokenCounter, dialogue_texts
from cm2.schema import Dialogue

METRICS: dict[str, str] = {
    "turns": "user turns",
    "steps": "assistant steps (assistant messages within turns)",
    "tool_calls": "tool calls",
    "distinct_tools": "distinct tools called",
    "tools": "tools offered",
    "messages": "messages (all roles)",
    "tokens": "tokens (contents, tool calls, tool specs)",
    "reasoning_tokens": "tokens inside <think>",
}
"""Every per-dialogue metric, with the label used in tables and plots."""

MAX_BINS = 40


@dataclass(frozen=True, slots=True)
class DialogueStats:
    """The numbers of one dialogue (see `METRICS`)."""

    uuid: str
    turns: int
    steps: int
    tool_calls: int
    distinct_tools: int
    tools: int
    messages: int
    tokens: int
    reasoning_tokens: int


def measure(dialogues: Sequence[Dialogue], counter: TokenCounter) -> list[DialogueStats]:
    """Measure a batch of dialogues, counting all their texts with one tokenizer call."""
    texts: list[str] = []
    spans: list[tuple[int, int, int]] = []
    for dialogue in dialogues:
        reasoning, other = dialogue_texts(dialogue)
        start = len(texts)
        texts.extend(reasoning)
        texts.extend(other)
        spans.append((start, start + len(reasoning), len(texts)))
    counts = counter.count(texts)
    result: list[DialogueStats] = []
    for dialogue, (start, middle, end) in zip(dialogues, spans, strict=True):
        shape = dialogue_shape(dialogue)
        result.append(
            DialogueStats(
                uuid=dialogue.uuid,
                turns=shape.turns,
                steps=shape.steps,
                tool_calls=shape.tool_calls,
                distinct_tools=shape.distinct_tools,
                tools=shape.tools,
                messages=shape.messages,
                tokens=sum(counts[start:end]),
                reasoning_tokens=sum(counts[start:middle]),
            )
        )
    return result


class Histogram(BaseModel):
    """Counts between consecutive `edges` (len(edges) == len(counts) + 1); integer-aligned bins."""

    edges: list[float]
    counts: list[int]


class MetricSummary(BaseModel):
    """Aggregate of one metric over the dialogues (None where there are no dialogues)."""

    label: str
    count: int
    total: int
    mean: float | None = None
    median: float | None = None
    p90: float | None = None
    min: int | None = None
    max: int | None = None
    histogram: Histogram = Field(default_factory=lambda: Histogram(edges=[], counts=[]))


class StatsReport(BaseModel):
    """Statistics of one dataset."""

    input: str | None = None
    tokenizer: str
    dialogues: int
    invalid: int = Field(0, description="Records that could not be read as dialogues (not measured).")
    metrics: dict[str, MetricSummary]

    def table(self) -> tuple[str, list[str], list[list[str]]]:
        """Title, columns and rows of the summary a person reads (mean, median, p90, max, total per metric)."""
        unreadable = f" ({self.invalid:,} unreadable, skipped)" if self.invalid else ""
        rows = [
            [name, f"{m.mean:,.2f}", f"{m.median:,.1f}", f"{m.p90:,.1f}", f"{m.max:,}", f"{m.total:,}"]
            if m.count and m.mean is not None and m.median is not None and m.p90 is not None
            else [name, *["-"] * 5]
            for name, m in self.metrics.items()
        ]
        title = f"{self.dialogues:,} dialogues{unreadable} · tokens: {self.tokenizer}"
        return title, ["metric", "mean", "median", "p90", "max", "total"], rows


def histogram(values: np.ndarray, max_bins: int = MAX_BINS) -> Histogram:
    """Integer-aligned bins: one per value when the range is small, else `max_bins` equal integer widths."""
    if values.size == 0:
        return Histogram(edges=[], counts=[])
    low, high = int(values.min()), int(values.max())
    width = max(1, -(-(high - low + 1) // max_bins))
    edges = np.arange(low, high + width + 1, width, dtype=np.float64) - 0.5
    counts, _ = np.histogram(values, bins=edges)
    return Histogram(edges=edges.tolist(), counts=counts.astype(int).tolist())


def summarize(label: str, values: np.ndarray) -> MetricSummary:
    if values.size == 0:
        return MetricSummary(label=label, count=0, total=0)
    return MetricSummary(
        label=label,
        count=int(values.size),
        total=int(values.sum()),
        mean=float(values.mean()),
        median=float(np.median(values)),
        p90=float(np.percentile(values, 90)),
        min=int(values.min()),
        max=int(values.max()),
        histogram=histogram(values),
    )


class StatsAccumulator:
    """Keeps one integer per dialogue per metric; `report()` aggregates them."""

    def __init__(self) -> None:
        self._values: dict[str, array[int]] = {name: array("q") for name in METRICS}
        self.invalid = 0

    @property
    def dialogues(self) -> int:
        return len(self._values["turns"])

    def add(self, stats: DialogueStats) -> None:
        for name, values in self._values.items():
            values.append(getattr(stats, name))

    def values(self, metric: str) -> np.ndarray:
        return np.frombuffer(self._values[metric], dtype=np.int64) if self._values[metric] else np.zeros(0, np.int64)

    def report(self, tokenizer: str, input: str | None = None) -> StatsReport:
        return StatsReport(
            input=input,
            tokenizer=tokenizer,
            dialogues=self.dialogues,
            invalid=self.invalid,
            metrics={name: summarize(label, self.values(name).copy()) for name, label in METRICS.items()},
        )


def compute_stats(
    dialogues: Iterable[Dialogue],
    counter: TokenCounter,
    *,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
    accumulator: StatsAccumulator | None = None,
) -> StatsAccumulator:
    """Measure every dialogue; `progress(n)` is called after each batch with the dialogues done so far."""
    result = accumulator if accumulator is not None else StatsAccumulator()
    iterator = iter(dialogues)
    while batch := list(islice(iterator, batch_size)):
        for stats in measure(batch, counter):
            result.add(stats)
        if progress is not None:
            progress(result.dialogues)
    return result


STATS_NAME = "stats.json"


def stats_file(
    source: str | os.PathLike[str],
    counter: TokenCounter,
    problems: list[tuple[str, str]],
    *,
    fmt: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> StatsReport:
    """The stats of every readable dialogue of `source` (bad records noted in `problems`); raises
    `NoUsableRecordsError` when none was readable."""
    from cm2.data.errors import no_usable_records
    from cm2.data.io import read_dialogues

    result = compute_stats(read_dialogues(source, fmt, errors=problems), counter, progress=progress)
    if not result.dialogues:
        raise no_usable_records(source, problems)
    result.invalid = len(problems)
    return result.report(tokenizer=counter.name, input=str(source))


def write_stats(report: StatsReport, out: Path, plots: bool = True) -> int:
    """`out/stats.json` (atomically) and, with `plots`, one histogram PNG per metric; how many PNGs."""
    from cm2.data.atomic import atomic_file

    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / STATS_NAME) as tmp:
        tmp.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    if not plots:
        return 0
    from cm2.data.plots import write_histograms

    return len(write_histograms(report, out))
