"""`cm2 label`, `cm2 filter-llm`, `cm2 compress-cot`: annotation jobs over dialogue files, resumable.

Settings come from `--config` (an `AnnotateConfig`: `llm`, `concurrency`, `label`, `reference`, `filter`,
`compress`) and `--set`, e.g. `--set llm.model=NAME --set llm.base_url=URL --set label.num_checklists=3`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cm2.cli.options import ConfigFile, Sets, command_config

if TYPE_CHECKING:
    from cm2.annotate.config import AnnotateConfig
    from cm2.annotate.jobs import JobIO, JobReport
    from cm2.annotate.runner import RunSummary

FormatOpt = Annotated[str | None, typer.Option("--format", help="Input format: jsonl, json, parquet or hf.")]
SummaryOpt = Annotated[Path | None, typer.Option("--summary", dir_okay=False, help="Also write the summary as JSON.")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")]
AllowPartial = Annotated[
    bool,
    typer.Option(
        "--allow-partial", help="Record dialogues the endpoint failed on in the side file (not retried) and exit 0."
    ),
]


def _setup(
    source: Path,
    out: Path,
    side: Path,
    config: Path | None,
    sets: list[str] | None,
    fmt: str | None,
    progress: bool,
    summary: Path | None,
    *,
    check_checklists: bool = True,
) -> tuple[AnnotateConfig, JobIO]:
    """The job's config and where it reads and writes, once the paths are known to work."""
    from cm2.annotate.config import AnnotateConfig
    from cm2.annotate.jobs import JobIO
    from cm2.cli.guard import check_paths

    if not out.name.endswith((".jsonl", ".ndjson")):
        raise typer.BadParameter(f"{out}: outputs are append-only JSON Lines; use a .jsonl name", param_hint="OUT")
    cfg = command_config(AnnotateConfig, config, sets)
    prices = cfg.llm.prices if cfg.llm is not None and isinstance(cfg.llm.prices, Path) else None
    check_paths([source, config, prices], files=[out, side, summary])
    io = JobIO(source, out, side, fmt, cfg.concurrency, progress, check_checklists)
    return cfg, io


def _finish(title: str, result: JobReport, summary: dict[str, Any], path: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from cm2.annotate.with_llm import write_summary
    from cm2.cli.guard import print_problems

    print_problems(result.unreadable, 10)
    table = Table(title=title, show_header=False)
    for key, value in summary.items():
        table.add_row(key, json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else str(value))
    Console(stderr=True).print(table)
    if path is not None:
        write_summary(path, summary)


def _exit_if_unfinished(run: RunSummary, side_name: str) -> None:
    """Exit 1 with one line when some dialogues were left for a rerun."""
    if not run.unfinished:
        return
    from cm2.cli.guard import fail

    first = " ".join((run.first_unfinished or "?").split())[:300]
    raise fail(
        f"{run.unfinished} dialogue(s) unfinished: the LLM endpoint gave no answer (first: {first}); run again to "
        f"retry them, or pass --allow-partial to record them as {side_name}",
        1,
    )


def label_command(
    source: Annotated[Path, typer.Argument(exists=True, help="Reference dialogues (any format cm2 reads).")],
    out: Annotated[Path, typer.Argument(help="Labeled dialogues, JSONL (appended; resumable).")],
    config: ConfigFile = None,
    sets: Sets = None,
    from_reference_calls: Annotated[
        bool, typer.Option("--from-reference-calls", help="Deterministic items from the reference tool calls; no LLM.")
    ] = False,
    failures: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Unrecoverable dialogues (default OUT.failures.jsonl).")
    ] = None,
    retry_failures: Annotated[bool, typer.Option(help="Try the dialogues of the failures file again.")] = False,
    allow_partial: AllowPartial = False,
    fmt: FormatOpt = None,
    summary: SummaryOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Write per-turn checklists for every dialogue of SOURCE into OUT (released CM2 format).

    With an LLM, each checklist is validated (evidence, dependencies, weights, checks) and the problems are
    sent back to the model for repair (`label.*` settings). Checklists already in SOURCE are replaced. Each
    item's `extra_info.price_usd` is the cost of the conversation that wrote its checklist. Rerunning skips
    dialogues already in OUT or in the failures file. A dialogue whose last request failed for good
    (endpoint down, refused, timing out) is written nowhere and the command exits 1: rerun to retry it.
    """
    from cm2.annotate import jobs, report
    from cm2.annotate.with_llm import endpoint, run_with_llm, side_path

    side = side_path(out, failures, "failures")
    cfg, io = _setup(source, out, side, config, sets, fmt, progress, summary, check_checklists=False)
    if from_reference_calls:
        result = asyncio.run(jobs.reference_label_job(io, cfg.reference))
        title, figures = "cm2 label --from-reference-calls", report.job_summary(result, "labeled", "failed", llm=False)
        _finish(title, result, figures, summary)
        return
    result, requests = run_with_llm(
        endpoint(cfg),
        "annotator",
        lambda client: jobs.label_job(
            io, client, cfg.label, retry_failures=retry_failures, allow_partial=allow_partial
        ),
    )
    _finish("cm2 label", result, {**report.job_summary(result, "labeled", "failed"), **requests}, summary)
    _exit_if_unfinished(result.summary, "failed")


def filter_command(
    source: Annotated[Path, typer.Argument(exists=True, help="Dialogues to review (any format cm2 reads).")],
    out: Annotated[Path, typer.Argument(help="Kept dialogues, JSONL (appended; resumable).")],
    config: ConfigFile = None,
    sets: Sets = None,
    rejected: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="Rejections with stage and reasons (default OUT.rejected.jsonl)."),
    ] = None,
    retry_errors: Annotated[bool, typer.Option(help="Review again the dialogues a failed request dropped.")] = False,
    allow_partial: AllowPartial = False,
    fmt: FormatOpt = None,
    summary: SummaryOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Keep the dialogues every LLM review stage accepts (`filter.stages`, e.g. --set 'filter.stages=[low,
    medium]'); the first stage that flags one drops it.

    A dialogue whose review request failed for good (endpoint down, refused, timing out) is written nowhere
    and the command exits 1: rerun to review it.
    """
    from cm2.annotate import jobs, report
    from cm2.annotate.with_llm import endpoint, run_with_llm, side_path

    side = side_path(out, rejected, "rejected")
    cfg, io = _setup(source, out, side, config, sets, fmt, progress, summary)
    result, requests = run_with_llm(
        endpoint(cfg),
        "filter",
        lambda client: jobs.filter_job(io, client, cfg.filter, retry_errors=retry_errors, allow_partial=allow_partial),
    )
    _finish("cm2 filter-llm", result, {**report.job_summary(result, "kept", "rejected"), **requests}, summary)
    _exit_if_unfinished(result.summary, "rejected")


def compress_command(
    source: Annotated[
        Path, typer.Argument(exists=True, help="Dialogues whose reasoning to shorten (any format cm2 reads).")
    ],
    out: Annotated[Path, typer.Argument(help="Dialogues with shortened reasoning, JSONL (appended; resumable).")],
    config: ConfigFile = None,
    sets: Sets = None,
    failures: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Dialogues the LLM could not help (default OUT.failures.jsonl).")
    ] = None,
    retry_failures: Annotated[bool, typer.Option(help="Try the dialogues of the failures file again.")] = False,
    fmt: FormatOpt = None,
    summary: SummaryOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Shorten the `<think>` text of every assistant message; all else stays byte-identical (verified).

    A rewrite that is empty, longer than the original or touches anything else is refused and the original
    kept; each output record says so under `cot_compression`.
    """
    from cm2.annotate import jobs, report
    from cm2.annotate.with_llm import endpoint, run_with_llm, side_path

    side = side_path(out, failures, "failures")
    cfg, io = _setup(source, out, side, config, sets, fmt, progress, summary)
    result, requests = run_with_llm(
        endpoint(cfg),
        "compressor",
        lambda client: jobs.compress_job(io, client, cfg.compress, retry_failures=retry_failures),
    )
    _finish("cm2 compress-cot", result, {**report.job_summary(result, "compressed", "failed"), **requests}, summary)


def register(app: typer.Typer) -> None:
    """Add `label`, `filter-llm` and `compress-cot` to `app`."""
    app.command("label")(label_command)
    app.command("filter-llm")(filter_command)
    app.command("compress-cot")(compress_command)
