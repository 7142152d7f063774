"""`cm2 data convert`: rewrite a dialogue file in another file format and/or record format."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class FileFormatName(StrEnum):
    jsonl = "jsonl"
    json = "json"
    parquet = "parquet"
    hf = "hf"


class RecordFormatName(StrEnum):
    same = "same"
    cm2 = "cm2"
    nemotron = "nemotron"
    openai = "openai"


class SourceFormatName(StrEnum):
    auto = "auto"
    cm2 = "cm2"
    nemotron = "nemotron"
    openai = "openai"


def convert(
    source: Annotated[Path, typer.Argument(metavar="IN", help="Input file or dataset directory.", exists=True)],
    target: Annotated[Path, typer.Argument(metavar="OUT", help="Output path (replaced atomically).")],
    to: Annotated[
        FileFormatName | None, typer.Option("--to", help="Output file format (default: from OUT's suffix).")
    ] = None,
    as_: Annotated[
        RecordFormatName, typer.Option("--as", help="Output record format; `same` keeps each record's own.")
    ] = RecordFormatName.same,
    from_: Annotated[
        FileFormatName | None, typer.Option("--from", help="Input file format (default: from IN's suffix).")
    ] = None,
    read_as: Annotated[
        SourceFormatName, typer.Option("--read-as", help="Input record format; `auto` detects it per record.")
    ] = SourceFormatName.auto,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first bad record and write nothing.")] = False,
    show: Annotated[int, typer.Option("--show", help="How many skipped records to list.", min=0)] = 20,
) -> None:
    """Convert IN to OUT, validating every record; bad records are skipped and listed."""
    from cm2.cli.guard import check_paths, nothing_usable
    from cm2.data.adapters import RecordFormat, convert_record
    from cm2.data.errors import NoUsableRecordsError, RecordError, UnreadableFileError
    from cm2.data.io import count_records, file_format, iter_records, write_records

    out_format = None if as_ is RecordFormatName.same else cast(RecordFormat, as_.value)
    in_format = None if read_as is SourceFormatName.auto else cast(RecordFormat, read_as.value)
    in_file = from_.value if from_ else None
    console, errors_console = Console(), Console(stderr=True)
    skipped: list[tuple[str, str]] = []
    check_paths([source], files=[target])

    try:
        out_file = file_format(target, to.value if to else None)
        total = count_records(source, in_file)
        records = iter_records(source, in_file)
    except (ValueError, OSError) as exc:
        errors_console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=errors_console) as progress:
        task = progress.add_task(f"converting {source.name}", total=total)

        def converted() -> Iterator[dict[str, Any]]:
            good = 0
            for raw in records:
                progress.advance(task)
                try:
                    if raw.data is None:
                        raise RecordError(raw.location, raw.error or "unreadable record")
                    yield convert_record(raw.data, to=out_format, source=in_format, location=raw.location)
                    good += 1
                except RecordError as exc:
                    skipped.append((exc.location, exc.message))
                    if strict:
                        raise
            if not good:  # raised inside the atomic write: OUT is not created
                raise nothing_usable(source, skipped)

        try:
            written = write_records(target, converted(), fmt=out_file)
        except (NoUsableRecordsError, UnreadableFileError):
            raise
        except RecordError as exc:
            errors_console.print(f"[red]error:[/] {escape(str(exc))}\nnothing written (--strict)", soft_wrap=True)
            raise typer.Exit(1) from None
        except (ValueError, OSError) as exc:
            errors_console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(2) from None

    console.print(f"converted {written}, skipped {len(skipped)} → {target}", soft_wrap=True)
    for location, message in skipped[:show]:
        console.print(f"  skipped {location}: {message}", markup=False, highlight=False, soft_wrap=True)
    if len(skipped) > show:
        console.print(f"  … and {len(skipped) - show} more")


def register(app: typer.Typer) -> None:
    """Add `convert` to the `cm2 data` group."""
    app.command("convert")(convert)
