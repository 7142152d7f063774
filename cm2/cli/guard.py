"""What every data-facing verb does at its edges: check paths before any work, say what was wrong in one
line, and exit non-zero when nothing usable was read.

`guard_app` wraps every command so that bad input (a `ValueError`, which covers `RecordError`,
`ChecklistError` and pydantic's errors, or an `OSError`) ends in one `error:` line naming where, never a
traceback. Set `CM2_TRACEBACK=1` to see the traceback instead.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import typer

from cm2.data.errors import NoUsableRecordsError, RecordError, no_usable_records

EXIT_BAD_INPUT = 1
"""Nothing usable was read, or the input broke off."""
EXIT_USAGE = 2
"""The command line cannot work: bad paths, bad options, a bad config."""

Problem = tuple[str, str]


class InputError(ValueError):
    """Input or output paths that cannot work, or input with nothing usable in it."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        self.code = code
        super().__init__(message)


def one_line(text: str, limit: int = 2000) -> str:
    """`text` with its line breaks folded, cut to `limit` characters."""
    folded = re.sub(r"\s*\n\s*", " | ", text.strip())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def print_error(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"error: {one_line(message)}", markup=False, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print `message` as one `error:` line on stderr; the `typer.Exit` to raise."""
    print_error(message)
    return typer.Exit(code)


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        try:
            return os.path.samefile(a, b)
        except OSError:
            return False
    return os.path.realpath(a) == os.path.realpath(b)


def check_paths(
    inputs: Iterable[Path | None], files: Iterable[Path | None] = (), dirs: Iterable[Path | None] = ()
) -> None:
    """Refuse output `files` and `dirs` that are (or hold) an input, a file where a folder is wanted, or a
    folder where a file is wanted; raise `InputError` before anything is read or written."""
    sources = [Path(p) for p in inputs if p is not None]
    outputs = [(Path(p), False) for p in files if p is not None] + [(Path(p), True) for p in dirs if p is not None]
    for out, is_dir in outputs:
        for source in sources:
            if _same(out, source):
                raise InputError(f"{out}: the output is the input {source}; name another output")
            if is_dir and os.path.realpath(source).startswith(os.path.realpath(out) + os.sep):
                raise InputError(f"{out}: the output folder holds the input {source}; name another folder")
        if is_dir and out.exists() and not out.is_dir():
            raise InputError(f"{out}: exists and is not a directory")
        if not is_dir and out.is_dir():
            raise InputError(f"{out}: is a directory; name a file")
    names = [os.path.realpath(p) for p, _ in outputs]
    for name in names:
        if names.count(name) > 1:
            raise InputError(f"{name}: named as two different outputs")


def nothing_usable(source: Path | str, problems: Sequence[Problem], read: int = 0) -> NoUsableRecordsError:
    """The error for an input without one usable record, quoting the first problem (exit 1)."""
    return no_usable_records(source, list(problems), read)


def print_problems(problems: Sequence[Problem], show: int, verb: str = "skipped") -> None:
    """One line per bad record (the first `show`), then how many more."""
    from rich.console import Console

    console = Console(stderr=True)
    for location, message in problems[:show]:
        console.print(f"{verb} {location}: {one_line(message)}", markup=False, highlight=False, soft_wrap=True)
    if len(problems) > show:
        console.print(f"… and {len(problems) - show} more bad record(s)", highlight=False)


def _code(exc: BaseException) -> int:
    if isinstance(exc, InputError):
        return exc.code
    return EXIT_BAD_INPUT if isinstance(exc, RecordError) else EXIT_USAGE


def guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """`command`, with bad input ending in one `error:` line and a non-zero exit instead of a traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (ValueError, OSError) as exc:
            if os.environ.get("CM2_TRACEBACK"):
                raise
            raise fail(str(exc) or type(exc).__name__, _code(exc)) from None

    run.guarded = True  # type: ignore[attr-defined]
    return run


def guard_app(app: typer.Typer) -> None:
    """Guard every command of `app` and of its sub-apps, in place."""
    for command in app.registered_commands:
        if command.callback is not None and not getattr(command.callback, "guarded", False):
            command.callback = guarded(command.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            guard_app(group.typer_instance)
