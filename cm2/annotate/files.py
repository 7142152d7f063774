"""The annotation jobs over files as `cm2 label`, `cm2 filter-llm` and `cm2 compress-cot` run them: paths and
config checked before any work, the endpoint's client opened and closed, the end-of-job summary."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cm2.annotate.config import AnnotateConfig
from cm2.annotate.jobs import JobIO, JobReport, compress_job, filter_job, label_job, reference_label_job
from cm2.annotate.report import job_summary
from cm2.annotate.with_llm import endpoint, run_with_llm, side_path, write_summary
from cm2.data.paths import InputError, check_paths

JobName = Literal["label", "filter", "compress", "reference"]


@dataclass(frozen=True)
class JobKind:
    """How a job names its LLM role and its two outputs, the default side file's suffix, the flag that tries
    the side file's dialogues again, and the job (its docstring is the command's help)."""

    role: str
    written: str
    side: str
    side_file: str
    retry: str
    run: Callable[..., Any]


JOBS: dict[JobName, JobKind] = {
    "label": JobKind("annotator", "labeled", "failed", "failures", "retry-failures", label_job),
    "reference": JobKind("annotator", "labeled", "failed", "failures", "retry-failures", reference_label_job),
    "filter": JobKind("filter", "kept", "rejected", "rejected", "retry-errors", filter_job),
    "compress": JobKind("compressor", "compressed", "failed", "failures", "retry-failures", compress_job),
}


def run_annotation(
    name: JobName,
    source: Path,
    out: Path,
    cfg: AnnotateConfig,
    *,
    side: Path | None = None,
    config: Path | None = None,
    summary: Path | None = None,
    fmt: str | None = None,
    progress: bool = True,
    **options: Any,
) -> tuple[JobReport, dict[str, Any]]:
    """Run job `name` over `source` into `out` and its side file (`side`, default beside `out`), resumable
    (`options`: the job's retry / allow_partial switches); the report and the end-of-job summary (request
    counts included), also written to `summary` when set. `config` (the file `cfg` came from) is checked as an
    input path. Raises `InputError` for paths that cannot work and ValueError when an LLM job has no endpoint."""
    kind = JOBS[name]
    if not out.name.endswith((".jsonl", ".ndjson")):
        raise InputError(f"{out}: outputs are append-only JSON Lines; use a .jsonl name")
    side = side_path(out, side, kind.side_file)
    prices = cfg.llm.prices if cfg.llm is not None and isinstance(cfg.llm.prices, Path) else None
    check_paths([source, config, prices], files=[out, side, summary])
    io = JobIO(source, out, side, fmt, cfg.concurrency, progress, name not in ("label", "reference"))
    if name == "reference":
        report = asyncio.run(kind.run(io, cfg.reference))
        figures = job_summary(report, kind.written, kind.side, llm=False)
    else:
        settings = {"label": cfg.label, "filter": cfg.filter, "compress": cfg.compress}[name]
        report, requests = run_with_llm(
            endpoint(cfg), kind.role, lambda client: kind.run(io, client, settings, **options)
        )
        figures = {**job_summary(report, kind.written, kind.side), **requests}
    if summary is not None:
        write_summary(summary, figures)
    return report, figures


def unfinished_message(report: JobReport, name: JobName) -> str | None:
    """One line on the dialogues left for a rerun (None when there are none)."""
    run = report.summary
    if not run.unfinished:
        return None
    first = " ".join((run.first_unfinished or "?").split())[:300]
    return (
        f"{run.unfinished} dialogue(s) unfinished: the LLM endpoint gave no answer (first: {first}); run again to "
        f"retry them, or pass --allow-partial to record them as {JOBS[name].side}"
    )
