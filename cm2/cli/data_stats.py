"""`cm2 data stats`: per-dialogue sizes of a dataset, summarised in a table, JSON and histograms."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress, TimeElapsedColumn
from rich.table import Table

from cm2.cli.data_split import InputFormat, progress_columns

if TYPE_CHECKING:
    from cm2.data.stats import StatsReport

STATS_NAME = "stats.json"


def stats(
    source: Annotated[Path, typer.Argument(metavar="IN", help="Dialogue file or dataset directory.", exists=True)],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write stats.json and one <metric>.png histogram per metric here.")
    ] = None,
    tokenizer: Annotated[
        str,
        typer.Option(
            help='Hugging Face tokenizer (local path or cached name) for exact token counts, or "approx" for the '
            "fast tokenizer-free estimate (about ±10% on English and JSON; see cm2/data/tokens.py)."
        ),
    ] = "approx",
    fmt: Annotated[InputFormat | None, typer.Option("--format", help="Input file format (default: from IN).")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG histograms (with --out).")] = True,
    show: Annotated[int, typer.Option("--show", help="How many unreadable records to list.", min=0)] = 5,
) -> None:
    """Count turns, steps, tool calls, tools, messages and tokens per dialogue of IN and summarise them."""
    from cm2.cli.guard import check_paths, nothing_usable
    from cm2.data.io import read_dialogues
    from cm2.data.stats import compute_stats
    from cm2.data.tokens import load_token_counter

    console, errors_console = Console(), Console(stderr=True)
    check_paths([source], dirs=[out])
    try:
        counter = load_token_counter(tokenizer)
    except ValueError as exc:
        errors_console.print(f"[red]error:[/] {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None

    problems: list[tuple[str, str]] = []
    with Progress(*progress_columns(), TimeElapsedColumn(), console=errors_console) as progress:
        task = progress.add_task(f"measuring {source.name}", total=None)
        dialogues = read_dialogues(source, fmt.value if fmt else None, errors=problems)
        result = compute_stats(dialogues, counter, progress=lambda done: progress.update(task, completed=done))
    if not result.dialogues:
        raise nothing_usable(source, problems)
    result.invalid = len(problems)
    report = result.report(tokenizer=counter.name, input=str(source))

    console.print(_table(report))
    for location, message in problems[:show]:
        console.print(f"  skipped {location}: {message}", markup=False, highlight=False)
    if len(problems) > show:
        console.print(f"  … and {len(problems) - show} more unreadable records")
    if out is not None:
        written = _write(report, out, plots)
        console.print(f"wrote {out / STATS_NAME}" + (f" and {written} histograms" if written else ""))


def _write(report: StatsReport, out: Path, plots: bool) -> int:
    from cm2.data.atomic import atomic_file

    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / STATS_NAME) as tmp:
        tmp.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    if not plots:
        return 0
    from cm2.data.plots import write_histograms

    return len(write_histograms(report, out))


def _table(report: StatsReport) -> Table:
    title = f"{report.dialogues:,} dialogues"
    if report.invalid:
        title += f" ({report.invalid:,} unreadable, skipped)"
    table = Table(title=f"{title} · tokens: {report.tokenizer}")
    table.add_column("metric")
    for column in ("mean", "median", "p90", "max", "total"):
        table.add_column(column, justify="right")
    for name, summary in report.metrics.items():
        if summary.count == 0:
            table.add_row(name, *["-"] * 5)
            continue
        table.add_row(
            name,
            f"{summary.mean:,.2f}",
            f"{summary.median:,.1f}",
            f"{summary.p90:,.1f}",
            f"{summary.max:,}",
            f"{summary.total:,}",
        )
    return table


def register(app: typer.Typer) -> None:
    """Add `stats` to the `cm2 data` group."""
    app.command("stats")(stats)
