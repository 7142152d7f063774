"""`cm2 label`, `cm2 filter-llm`, `cm2 compress-cot`: annotation jobs over dialogue files, resumable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from cm2.annotate.config import AnnotateConfig
    from cm2.annotate.jobs import JobIO, JobReport
    from cm2.annotate.runner import RunSummary
    from cm2.llm import LLMClient, LLMConfig, UsageMeter

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", exists=True, dir_okay=False, help="YAML AnnotateConfig (llm + options).")
]
BaseUrlOpt = Annotated[
    list[str] | None, typer.Option("--llm-base-url", help="OpenAI-compatible base URL (repeat for several).")
]
ModelOpt = Annotated[str | None, typer.Option("--llm-model", help="Model name (overrides the config's).")]
KeyEnvOpt = Annotated[str | None, typer.Option("--llm-api-key-env", help="Environment variable holding the key.")]
PricesOpt = Annotated[
    Path | None, typer.Option("--prices", exists=True, dir_okay=False, help="YAML price table (USD per 1M tokens).")
]
ConcurrencyOpt = Annotated[int | None, typer.Option("--concurrency", min=1, help="Dialogues processed at once.")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="Input format: jsonl, json, parquet or hf.")]
SummaryOpt = Annotated[Path | None, typer.Option("--summary", dir_okay=False, help="Also write the summary as JSON.")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")]


def _load(config: Path | None) -> AnnotateConfig:
    from pydantic import ValidationError

    from cm2.annotate.config import AnnotateConfig

    if config is None:
        return AnnotateConfig()
    try:
        return AnnotateConfig.from_yaml(config)
    except (ValidationError, ValueError) as exc:
        raise typer.BadParameter(f"{config}: {exc}", param_hint="--config") from exc


def _llm_config(
    cfg: AnnotateConfig, base_urls: list[str] | None, model: str | None, key_env: str | None, prices: Path | None
) -> LLMConfig:
    from pydantic import ValidationError

    from cm2.llm import LLMConfig

    data: dict[str, Any] = cfg.llm.model_dump(exclude_unset=True) if cfg.llm is not None else {}
    if base_urls:
        data["base_urls"] = base_urls
    if model:
        data["model"] = model
    if key_env is not None:
        data["api_key_env"] = key_env or None
    if prices is not None:
        data["prices"] = prices
    if "model" not in data:
        raise typer.BadParameter("no model: pass --llm-model (and --llm-base-url) or an `llm:` section in --config")
    try:
        return LLMConfig.model_validate(data)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--llm-*") from exc


def _side_path(out: Path, side: Path | None, name: str) -> Path:
    return side if side is not None else out.with_name(f"{out.name.removesuffix('.jsonl')}.{name}.jsonl")


def _check_out(out: Path) -> None:
    if not out.name.endswith((".jsonl", ".ndjson")):
        raise typer.BadParameter(f"{out}: outputs are append-only JSON Lines; use a .jsonl name", param_hint="OUT")


def _print(title: str, summary: dict[str, Any], path: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in summary.items():
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False)
        table.add_row(key, str(value))
    Console(stderr=True).print(table)
    if path is not None:
        from cm2.data.atomic import atomic_file

        with atomic_file(path) as tmp:
            tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _run_with_client(
    llm: LLMConfig, role: str, job: Callable[[LLMClient], Awaitable[JobReport]]
) -> tuple[JobReport, UsageMeter]:
    from cm2.llm import UsageMeter, make_client

    meter = UsageMeter()

    async def main() -> JobReport:
        client = make_client(llm, role=role, meter=meter)
        try:
            return await job(client)
        finally:
            close = getattr(client, "aclose", None)
            if close is not None:
                await close()

    return asyncio.run(main()), meter


def _with_requests(summary: dict[str, Any], meter: UsageMeter) -> dict[str, Any]:
    total = meter.total()
    return {**summary, "LLM requests": total.requests, "LLM requests failed": total.failed, "cached": total.cached}


def _io(
    source: Path,
    out: Path,
    side: Path,
    fmt: str | None,
    concurrency: int,
    progress: bool,
    *,
    inputs: list[Path | None],
    summary: Path | None,
    check_checklists: bool = True,
) -> JobIO:
    """Where the job reads and writes, once the paths are known to work (outputs are not inputs)."""
    from cm2.annotate.jobs import JobIO
    from cm2.cli.guard import check_paths

    _check_out(out)
    check_paths([source, *inputs], files=[out, side, summary])
    return JobIO(
        source=source,
        out=out,
        side=side,
        fmt=fmt,
        concurrency=concurrency,
        progress=progress,
        check_checklists=check_checklists,
    )


def _show_unreadable(result: JobReport) -> None:
    from cm2.cli.guard import print_problems

    print_problems(result.unreadable, 10)


def label_command(
    source: Annotated[Path, typer.Argument(exists=True, help="Reference dialogues (any format cm2 reads).")],
    out: Annotated[Path, typer.Argument(help="Labeled dialogues, JSONL (appended; resumable).")],
    num_checklists: Annotated[int | None, typer.Option(min=1, help="Checklists per dialogue (K).")] = None,
    from_reference_calls: Annotated[
        bool, typer.Option("--from-reference-calls", help="Deterministic items from the reference tool calls; no LLM.")
    ] = False,
    failures: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Unrecoverable dialogues (default OUT.failures.jsonl).")
    ] = None,
    max_repair_rounds: Annotated[int | None, typer.Option(min=0, help="Follow-ups sending problems back.")] = None,
    retry_failures: Annotated[bool, typer.Option(help="Try the dialogues of the failures file again.")] = False,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Record dialogues the endpoint failed on in the failures file (not retried) and exit 0.",
        ),
    ] = False,
    config: ConfigOpt = None,
    llm_base_url: BaseUrlOpt = None,
    llm_model: ModelOpt = None,
    llm_api_key_env: KeyEnvOpt = None,
    prices: PricesOpt = None,
    concurrency: ConcurrencyOpt = None,
    fmt: FormatOpt = None,
    summary: SummaryOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Write per-turn checklists for every dialogue of SOURCE into OUT (released CM2 format).

    With an LLM, each checklist is validated (evidence, dependencies, weights, checks) and the problems are
    sent back to the model for repair. Checklists already in SOURCE are replaced. Each item's
    `extra_info.price_usd` is the cost of the conversation that wrote its checklist. Rerunning skips
    dialogues already in OUT or in the failures file. A dialogue whose last request failed for good
    (endpoint down, refused, timing out) is written nowhere and the command exits 1: rerun to retry it.
    """
    from pydantic import ValidationError

    from cm2.annotate import jobs, report
    from cm2.annotate.config import LabelOptions

    cfg = _load(config)
    side = _side_path(out, failures, "failures")
    io = _io(
        source,
        out,
        side,
        fmt,
        concurrency or cfg.concurrency,
        progress,
        inputs=[config, prices],
        summary=summary,
        check_checklists=False,
    )
    if from_reference_calls:
        result = asyncio.run(jobs.reference_label_job(io, cfg.reference))
        _show_unreadable(result)
        _print("cm2 label --from-reference-calls", report.job_summary(result, "labeled", "failed", llm=False), summary)
        return
    overrides = {"num_checklists": num_checklists, "max_repair_rounds": max_repair_rounds}
    try:
        options = LabelOptions.model_validate(
            {**cfg.label.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--num-checklists") from exc
    llm = _llm_config(cfg, llm_base_url, llm_model, llm_api_key_env, prices)
    result, meter = _run_with_client(
        llm,
        "annotator",
        lambda client: jobs.label_job(io, client, options, retry_failures=retry_failures, allow_partial=allow_partial),
    )
    _show_unreadable(result)
    _print("cm2 label", _with_requests(report.job_summary(result, "labeled", "failed"), meter), summary)
    _exit_if_unfinished(result.summary, "failed")


def _exit_if_unfinished(run: RunSummary, side_name: str) -> None:
    """Exit 1 with one line when some dialogues were left for a rerun."""
    if not run.unfinished:
        return
    from rich.console import Console
    from rich.markup import escape

    first = " ".join((run.first_unfinished or "?").split())[:300]
    Console(stderr=True).print(
        f"[red]error:[/] {run.unfinished} dialogue(s) unfinished: the LLM endpoint gave no answer (first: "
        f"{escape(first)}); run again to retry them, or pass --allow-partial to record them as {side_name}",
        soft_wrap=True,
        highlight=False,
    )
    raise typer.Exit(1)


def filter_command(
    source: Annotated[Path, typer.Argument(exists=True, help="Dialogues to review (any format cm2 reads).")],
    out: Annotated[Path, typer.Argument(help="Kept dialogues, JSONL (appended; resumable).")],
    stages: Annotated[
        str | None, typer.Option(help="Comma-separated reasoning efforts, one review each, e.g. low,low,medium.")
    ] = None,
    rejected: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="Rejections with stage and reasons (default OUT.rejected.jsonl)."),
    ] = None,
    retry_errors: Annotated[bool, typer.Option(help="Review again the dialogues a failed request dropped.")] = False,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Record dialogues the endpoint failed on as rejected (error: true, not retried) and exit 0.",
        ),
    ] = False,
    config: ConfigOpt = None,
    llm_base_url: BaseUrlOpt = None,
    llm_model: ModelOpt = None,
    llm_api_key_env: KeyEnvOpt = None,
    prices: PricesOpt = None,
    concurrency: ConcurrencyOpt = None,
    fmt: FormatOpt = None,
    summary: SummaryOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Keep the dialogues every LLM review stage accepts; the first stage that flags one drops it.

    A dialogue whose review request failed for good (endpoint down, refused, timing out) is written nowhere
    and the command exits 1: rerun to review it.
    """
    from pydantic import ValidationError

    from cm2.annotate import jobs, report
    from cm2.annotate.config import FilterOptions

    cfg = _load(config)
    options = cfg.filter
    if stages is not None:
        try:
            options = FilterOptions.model_validate(
                {**options.model_dump(), "stages": [s.strip() for s in stages.split(",") if s.strip()]}
            )
        except ValidationError as exc:
            raise typer.BadParameter(
                f"{stages!r}: use low, medium or high, comma-separated", param_hint="--stages"
            ) from exc
    side = _side_path(out, rejected, "rejected")
    io = _io(source, out, side, fmt, concurrency or cfg.concurrency, progress, inputs=[config, prices], summary=summary)
    llm = _llm_config(cfg, llm_base_url, llm_model, llm_api_key_env, prices)
    result, meter = _run_with_client(
        llm,
        "filter",
        lambda client: jobs.filter_job(io, client, options, retry_errors=retry_errors, allow_partial=allow_partial),
    )
    _show_unreadable(result)
    _print("cm2 filter-llm", _with_requests(report.job_summary(result, "kept", "rejected"), meter), summary)
    _exit_if_unfinished(result.summary, "rejected")


def compress_command(
    source: Annotated[
        Path, typer.Argument(exists=True, help="Dialogues whose reasoning to shorten (any format cm2 reads).")
    ],
    out: Annotated[Path, typer.Argument(help="Dialogues with shortened reasoning, JSONL (appended; resumable).")],
    failures: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Dialogues the LLM could not help (default OUT.failures.jsonl).")
    ] = None,
    retry_failures: Annotated[bool, typer.Option(help="Try the dialogues of the failures file again.")] = False,
    config: ConfigOpt = None,
    llm_base_url: BaseUrlOpt = None,
    llm_model: ModelOpt = None,
    llm_api_key_env: KeyEnvOpt = None,
    prices: PricesOpt = None,
    concurrency: ConcurrencyOpt = None,
    fmt: FormatOpt = None,
    summary: SummaryOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Shorten the `<think>` text of every assistant message; all else stays byte-identical (verified).

    A rewrite that is empty, longer than the original or touches anything else is refused and the original
    kept; each output record says so under `cot_compression`.
    """
    from cm2.annotate import jobs, report

    cfg = _load(config)
    side = _side_path(out, failures, "failures")
    io = _io(source, out, side, fmt, concurrency or cfg.concurrency, progress, inputs=[config, prices], summary=summary)
    llm = _llm_config(cfg, llm_base_url, llm_model, llm_api_key_env, prices)
    result, meter = _run_with_client(
        llm, "compressor", lambda client: jobs.compress_job(io, client, cfg.compress, retry_failures=retry_failures)
    )
    _show_unreadable(result)
    _print("cm2 compress-cot", _with_requests(report.job_summary(result, "compressed", "failed"), meter), summary)


def register(app: typer.Typer) -> None:
    """Add `label`, `filter-llm` and `compress-cot` to `app`."""
    app.command("label")(label_command)
    app.command("filter-llm")(filter_command)
    app.command("compress-cot")(compress_command)
