"""The CLI guard: one-line errors and exit codes instead of tracebacks."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from cm2.cli.guard import GuardedGroup, InputError
from cm2.data.errors import RecordError


def test_guarded_commands_print_one_line_and_exit_non_zero() -> None:
    app = typer.Typer(cls=GuardedGroup)

    @app.command("bad")
    def bad(kind: str) -> None:
        if kind == "record":
            raise RecordError("in.jsonl:2", "messages: Field required\n  more detail")
        if kind == "usage":
            raise InputError("out.jsonl: the output is the input in.jsonl")
        if kind == "os":
            raise IsADirectoryError(21, "Is a directory", "x.jsonl")
        raise KeyError("a bug stays a traceback")

    @app.command("other")
    def other() -> None: ...

    runner = CliRunner()
    result = runner.invoke(app, ["bad", "record"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("error: in.jsonl:2: messages: Field required | more detail")
    assert runner.invoke(app, ["bad", "usage"]).exit_code == 2
    assert "x.jsonl" in runner.invoke(app, ["bad", "os"]).output
    assert isinstance(runner.invoke(app, ["bad", "bug"]).exception, KeyError)
