"""What every verb does at its edges: check paths before any work (`cm2.data.paths`), say what was wrong in
one line, show progress and results, and exit non-zero when nothing usable was read.

`GuardedGroup`, the `cm2` app's group, sees to it that bad input (a `ValueError`, which covers `RecordError`,
`ChecklistError` and pydantic's errors, or an `OSError`) ends in one `error:` line naming where, never a
traceback. Set `CM2_TRACEBACK=1` to see the traceback instead.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from cm2.data.errors import RecordError
from cm2.data.paths import InputError, check_paths

__all__ = ["EXIT_BAD_INPUT", "EXIT_USAGE", "GuardedGroup", "InputError", "check_paths", "fail", "print_problems"]

EXIT_BAD_INPUT = 1
"""Nothing usable was read, or the input broke off."""
EXIT_USAGE = 2
"""The command line cannot work: bad paths, bad options, a bad config."""


def one_line(text: str, limit: int = 2000) -> str:
    """`text` with its line breaks folded, cut to `limit` characters."""
    folded = re.sub(r"\s*\n\s*", " | ", text.strip())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print `message` as one `error:` line on stderr; the `typer.Exit` to raise."""
    Console(stderr=True).print(f"error: {one_line(message)}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def fail_on(*errors: type[Exception], code: int = EXIT_USAGE) -> Iterator[None]:
    """Turn the library's own `errors` raised inside into one `error:` line and exit `code`."""
    try:
        yield
    except errors as exc:
        raise fail(str(exc), code) from None


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
def progress(description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """A progress line on stderr (a bar when `total` is known); the callable advances it by one, or updates it
    with rich's keywords (`completed=`, `total=`)."""
    bar = (BarColumn(), MofNCompleteColumn()) if total is not None else (TextColumn("{task.completed:,.0f} records"),)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), *bar, TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as shown:
        task = shown.add_task(description, total=total)
        yield lambda **update: shown.update(task, **(update or {"advance": 1}))


def _code(exc: BaseException) -> int:
    if isinstance(exc, InputError):
        return exc.code
    return EXIT_BAD_INPUT if isinstance(exc, RecordError) else EXIT_USAGE


class GuardedGroup(TyperGroup):
    """A command group whose commands (its sub-groups' too) end bad input in one `error:` line and a non-zero
    exit instead of a traceback."""

    def invoke(self, ctx: Any) -> Any:  # a click Context: typer bundles its own click in recent versions
        try:
            return super().invoke(ctx)
        except (ValueError, OSError) as exc:
            if os.environ.get("CM2_TRACEBACK"):
                raise
            raise fail(str(exc) or type(exc).__name__, _code(exc)) from None
