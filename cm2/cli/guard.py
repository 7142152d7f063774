"""What every verb does at its edges: check paths before any work (`cm2.data.paths`), say what was wrong in
one line (shown with `cm2.console`, like progress and results), and exit non-zero when nothing usable was read.

`GuardedGroup`, the `cm2` app's group, sees to it that bad input (a `ValueError`, which covers `RecordError`,
`ChecklistError` and pydantic's errors, or an `OSError`) ends in one `error:` line naming where, never a
traceback. Set `CM2_TRACEBACK=1` to see the traceback instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer.core import TyperGroup

from cm2.console import one_line, say
from cm2.data.errors import RecordError
from cm2.data.paths import InputError, check_paths

__all__ = ["EXIT_BAD_INPUT", "EXIT_USAGE", "GuardedGroup", "InputError", "check_paths", "fail"]

EXIT_BAD_INPUT = 1
"""Nothing usable was read, or the input broke off."""
EXIT_USAGE = 2
"""The command line cannot work: bad paths, bad options, a bad config."""


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print `message` as one `error:` line on stderr; the `typer.Exit` to raise."""
    say(f"error: {one_line(message)}", err=True)
    return typer.Exit(code)


@contextmanager
def fail_on(*errors: type[Exception], code: int = EXIT_USAGE) -> Iterator[None]:
    """Turn the library's own `errors` raised inside into one `error:` line and exit `code`."""
    try:
        yield
    except errors as exc:
        raise fail(str(exc), code) from None


def _code(exc: BaseException) -> int:
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
