"""`cm2 label`, `cm2 filter-llm`, `cm2 compress-cot`: annotation jobs over dialogue files, resumable (the work:
`cm2.annotate.files`).

Settings come from `--config` (an `AnnotateConfig`: `llm`, `concurrency`, `label`, `reference`, `filter`,
`compress`) and `--set`, e.g. `--set llm.model=NAME --set llm.base_url=URL --set label.num_checklists=3`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cm2.cli.options import ConfigFile, Sets, command_config

Source = Annotated[Path, typer.Argument(exists=True, help="Dialogues (any format cm2 reads).")]
Out = Annotated[Path, typer.Argument(help="Output dialogues, JSONL (appended; resumable).")]
Failures = Annotated[
    Path | None, typer.Option(dir_okay=False, help="Dialogues the job failed on (default OUT.failures.jsonl).")
]
Rejected = Annotated[
    Path | None, typer.Option(dir_okay=False, help="Rejections with stage and reasons (default OUT.rejected.jsonl).")
]
RetryFailures = Annotated[bool, typer.Option(help="Try the dialogues of the failures file again.")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="Input format: jsonl, json, parquet or hf.")]
SummaryOpt = Annotated[Path | None, typer.Option("--summary", dir_okay=False, help="Also write the summary as JSON.")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")]
AllowPartial = Annotated[
    bool,
    typer.Option(
        "--allow-partial", help="Record dialogues the endpoint failed on in the side file (not retried) and exit 0."
    ),
]


def _run(name: str, title: str, paths: tuple[Any, ...], sets: list[str] | None, progress: bool, **options: Any) -> None:
    from cm2.annotate.config import AnnotateConfig
    from cm2.annotate.files import AnnotationFiles, run_annotation, unfinished_message
    from cm2.cli.guard import fail, print_problems, print_rows

    files = AnnotationFiles(*paths)  # source, out, side file, config, summary, format
    cfg = command_config(AnnotateConfig, files.config, sets)
    report, summary = run_annotation(name, files, cfg, progress=progress, **options)  # type: ignore[arg-type]
    print_problems(report.unreadable, 10)
    print_rows(
        title, {k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v for k, v in summary.items()}
    )
    message = unfinished_message(report, name)  # type: ignore[arg-type]
    if message is not None:
        raise fail(message, 1)


def label_command(
    source: Source,
    out: Out,
    config: ConfigFile = None,
    sets: Sets = None,
    from_reference_calls: Annotated[
        bool, typer.Option("--from-reference-calls", help="Deterministic items from the reference tool calls; no LLM.")
    ] = False,
    failures: Failures = None,
    retry_failures: RetryFailures = False,
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
    files = (source, out, failures, config, summary, fmt)
    if from_reference_calls:
        _run("reference", "cm2 label --from-reference-calls", files, sets, progress)
    else:
        _run("label", "cm2 label", files, sets, progress, retry_failures=retry_failures, allow_partial=allow_partial)


def filter_command(
    source: Source,
    out: Out,
    config: ConfigFile = None,
    sets: Sets = None,
    rejected: Rejected = None,
    retry_errors: Annotated[bool, typer.Option(help="Review again the dialogues a failed request dropped.")] = False,
    allow_partial: AllowPartial = False,
    fmt: FormatOpt = None,
    summary: SummaryOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Keep the dialogues every LLM review stage accepts (`filter.stages`, e.g. --set 'filter.stages=[low,
    medium]'); the first stage that flags one drops it (with stage and reasons in OUT.rejected.jsonl).

    A dialogue whose review request failed for good (endpoint down, refused, timing out) is written nowhere
    and the command exits 1: rerun to review it.
    """
    files = (source, out, rejected, config, summary, fmt)
    _run("filter", "cm2 filter-llm", files, sets, progress, retry_errors=retry_errors, allow_partial=allow_partial)


def compress_command(
    source: Source,
    out: Out,
    config: ConfigFile = None,
    sets: Sets = None,
    failures: Failures = None,
    retry_failures: RetryFailures = False,
    fmt: FormatOpt = None,
    summary: SummaryOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Shorten the `<think>` text of every assistant message; all else stays byte-identical (verified).

    A rewrite that is empty, longer than the original or touches anything else is refused and the original
    kept; each output record says so under `cot_compression`.
    """
    files = (source, out, failures, config, summary, fmt)
    _run("compress", "cm2 compress-cot", files, sets, progress, retry_failures=retry_failures)


def register(app: typer.Typer) -> None:
    """Add `label`, `filter-llm` and `compress-cot` to `app`."""
    app.command("label")(label_command)
    app.command("filter-llm")(filter_command)
    app.command("compress-cot")(compress_command)
