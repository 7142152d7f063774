"""What a run shows a person: plain lines, log records, one line per bad record, tables of results and
progress bars (the bars and the notes on stderr, so that stdout stays the results)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Literal

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table


def one_line(text: str, limit: int = 2000) -> str:
    """`text` with its line breaks folded, cut to `limit` characters."""
    folded = re.sub(r"\s*\n\s*", " | ", text.strip())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def show_logs(level: int = logging.INFO) -> None:
    """Show log records from `level` up on stderr, each as `LEVEL logger: message`."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def say(*lines: str, err: bool = False) -> None:
    """Print plain lines (no markup) on stdout, or stderr with `err`."""
    console = Console(stderr=err)
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def print_problems(problems: Sequence[tuple[str, str]], show: int, verb: str = "skipped", *, err: bool = True) -> None:
    """One line per bad record (the first `show`), then how many more."""
    more = [f"… and {len(problems) - show} more bad record(s)"] if len(problems) > show else []
    say(*[f"{verb} {location}: {one_line(message)}" for location, message in problems[:show]], *more, err=err)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], err: bool = False) -> None:
    """A table of results (a header when `columns` are named; numbers right-aligned); only the last column is
    cut to fit the terminal."""
    cells = [[str(value) for value in row] for row in rows]
    names = list(columns or ("", ""))
    table = Table(title=escape(title), show_header=bool(columns), title_justify="left")
    for n, name in enumerate(names):
        widest = max((len(row[n]) for row in cells), default=0) if n < len(names) - 1 else None
        justify: Literal["left", "right"] = "left" if n == 0 or not columns or n == len(names) - 1 else "right"
        table.add_column(name, justify=justify, no_wrap=True, min_width=widest, overflow="ellipsis")
    for row in cells:
        table.add_row(*(escape(cell) for cell in row))
    Console(stderr=err).print(table)


def print_rows(title: str, rows: Mapping[str, object]) -> None:
    """A two-column table of results on stderr (lists and mappings shown as JSON)."""
    shown = {k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v for k, v in rows.items()}
    print_table(title, (), shown.items(), err=True)


@contextmanager
def progress(
    description: str, total: int | None = None, *, enabled: bool = True, transient: bool = False
) -> Iterator[Callable[..., None]]:
    """A progress line on stderr (a bar when `total` is known; none unless `enabled`, gone when done if
    `transient`); the callable advances it by one, or updates it with rich's keywords (`completed=`, `total=`)."""
    bar = (BarColumn(), MofNCompleteColumn()) if total is not None else (TextColumn("{task.completed:,.0f} records"),)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), *bar, TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not enabled, transient=transient) as shown:
        task = shown.add_task(description, total=total)
        yield lambda **update: shown.update(task, **(update or {"advance": 1}))
