"""`cm2 data filter`: keep the dialogues that pass the rule filters, with a per-rule report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cm2.cli.data_convert import FileFormatName
from cm2.cli.options import Sets, command_config

if TYPE_CHECKING:
    from cm2.data.filters import FilterConfig, FilterReport


def _names(values: list[str] | None) -> list[str]:
    """Rule names from repeated and/or comma-separated option values."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def _config(
    config_path: Path | None,
    sets: list[str] | None,
    rules: str | None,
    disable: list[str] | None,
    require_think: bool | None,
) -> FilterConfig:
    from cm2.data.filters import FilterConfig

    config = command_config(FilterConfig, config_path, sets)
    update: dict[str, Any] = {}
    if rules is not None:
        update["rules"] = _names([rules])
    if require_think is not None:
        update["require_think"] = require_think
    if update:
        config = FilterConfig.model_validate({**config.model_dump(), **update})
    return config.without(_names(disable)) if disable else config


def _summary(report: FilterReport, console: Console, show: int) -> None:
    checked = report.kept + report.rejected
    table = Table(title=escape(f"rule filters: {report.input}"), title_justify="left")
    longest = max(map(len, report.rules), default=4)
    room = max(20, console.width - longest - 30)  # what the borders and number columns leave
    table.add_column("rule", no_wrap=True)
    table.add_column("rejected", justify="right", no_wrap=True)
    table.add_column("share", justify="right", no_wrap=True)
    table.add_column("first example", no_wrap=True)
    for name, stats in report.rules.items():
        share = f"{stats.rejected / checked:.1%}" if checked else "-"
        example = stats.examples[0].reasons[0] if stats.examples and stats.examples[0].reasons else ""
        example = example if len(example) <= room else example[: room - 1] + "…"
        table.add_row(name, f"{stats.rejected:,}", share, escape(example))
    console.print(table)
    console.print(
        f"total {report.total:,}  kept {report.kept:,}  rejected {report.rejected:,}  malformed {report.malformed:,}"
        f" → {escape(str(report.output))}",
        soft_wrap=True,
    )
    for entry in report.malformed_inputs[:show]:
        console.print(f"  malformed {entry.location}: {entry.error}", markup=False, highlight=False, soft_wrap=True)
    if report.malformed > show:
        console.print(f"  … and {report.malformed - show} more malformed inputs (see the report)")


class _NothingKept(Exception):
    """No record passed: OUT is not written."""


def filter_command(
    source: Annotated[Path, typer.Argument(metavar="IN", help="Input file or dataset directory.", exists=True)],
    target: Annotated[Path, typer.Argument(metavar="OUT", help="Kept records, unchanged (replaced atomically).")],
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Report JSON (default: OUT with '.report.json' appended).")
    ] = None,
    rules: Annotated[
        str | None, typer.Option("--rules", metavar="A,B", help="Comma-separated rules to run (default: all).")
    ] = None,
    disable: Annotated[
        list[str] | None,
        typer.Option("--disable", metavar="RULE", help="Rule to switch off (repeatable or comma-separated)."),
    ] = None,
    require_think: Annotated[
        bool | None,
        typer.Option("--require-think/--no-require-think", help="Require a <think> block in every assistant message."),
    ] = None,
    config_path: Annotated[Path | None, typer.Option("--config", help="FilterConfig YAML.", exists=True)] = None,
    sets: Sets = None,
    from_: Annotated[
        FileFormatName | None, typer.Option("--from", help="Input file format (default: from IN's name).")
    ] = None,
    to: Annotated[
        FileFormatName | None, typer.Option("--to", help="Output file format (default: from OUT's name).")
    ] = None,
    show: Annotated[int, typer.Option("--show", help="How many malformed inputs to list.", min=0)] = 10,
) -> None:
    """Run the rule filters over IN; write the passing records to OUT and a per-rule report."""
    from pydantic import ValidationError

    from cm2.cli.guard import EXIT_BAD_INPUT, check_paths, fail
    from cm2.data.filters import FilterReport, run_filters
    from cm2.data.io import count_records, file_format, iter_records, write_records

    console, errors = Console(), Console(stderr=True)
    report_file = report_path or target.with_name(target.name + ".report.json")
    check_paths([source, config_path], files=[target, report_file])
    try:
        config = _config(config_path, sets, rules, disable, require_think)
        in_format = from_.value if from_ else None
        out_format = file_format(target, to.value if to else None)
        total = count_records(source, in_format)
        records = iter_records(source, in_format)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        errors.print(f"[red]error:[/] filter config: {escape(problems)}", soft_wrap=True)
        raise typer.Exit(2) from None
    except (ValueError, OSError) as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None

    report = FilterReport.start(config, input=str(source), output=str(target))
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=errors) as progress:
        task = progress.add_task(f"filtering {source.name}", total=total)

        def kept() -> Iterator[dict[str, Any]]:
            for result in run_filters(records, config):
                progress.advance(task)
                report.add(result)
                if result.kept:
                    yield result.record.data
            if not report.kept:  # raised inside the atomic write: OUT is not created
                raise _NothingKept

        try:
            write_records(target, kept(), fmt=out_format)
        except _NothingKept:
            report.write(report_file)
            _summary(report, console, show)
            what = "no records" if not report.total else f"none of its {report.total:,} records passed"
            raise fail(
                f"{source}: {what}; nothing written to {target} (report: {report_file})", EXIT_BAD_INPUT
            ) from None
        except Exception as exc:  # e.g. a corrupt compressed file: say where we were, leave OUT untouched
            where = f"after {report.total:,} records of {source}"
            errors.print(f"[red]error[/] {escape(where)}: {escape(f'{type(exc).__name__}: {exc}')}", soft_wrap=True)
            errors.print(f"nothing written to {escape(str(target))}", soft_wrap=True)
            raise typer.Exit(1) from None
    report.write(report_file)
    _summary(report, console, show)
    console.print(f"report → {escape(str(report_file))}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `filter` to the `cm2 data` group."""
    app.command("filter")(filter_command)
