"""The CLI guard: path checks before work, one-line errors, exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cm2.cli.guard import InputError, check_paths, guard_app, one_line
from cm2.data.errors import no_usable_records as nothing_usable
from cm2.data.errors import NoUsableRecordsError, RecordError


def test_an_output_that_is_an_input_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("{}\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(source)
    hard = tmp_path / "hard.jsonl"
    os.link(source, hard)
    for out in (source, tmp_path / "." / "in.jsonl", link, hard):
        with pytest.raises(InputError, match="is the input"):
            check_paths([source], files=[out])
    with pytest.raises(InputError, match="holds the input"):
        check_paths([source], dirs=[tmp_path])
    check_paths([source], files=[tmp_path / "out.jsonl"], dirs=[tmp_path / "sub"])


def test_the_kind_of_output_path_is_checked(tmp_path: Path) -> None:
    existing = tmp_path / "file"
    existing.write_text("x")
    with pytest.raises(InputError, match="exists and is not a directory"):
        check_paths([], dirs=[existing])
    with pytest.raises(InputError, match="is a directory"):
        check_paths([], files=[tmp_path])
    with pytest.raises(InputError, match="two different outputs"):
        check_paths([], files=[tmp_path / "a", tmp_path / "a"])


def test_nothing_usable_quotes_the_first_problem() -> None:
    error = nothing_usable("in.jsonl", [("in.jsonl:3", "invalid JSON"), ("in.jsonl:4", "x")])
    assert isinstance(error, NoUsableRecordsError)
    assert str(error) == "in.jsonl:3: invalid JSON (and 1 more bad record(s)); nothing usable in in.jsonl"
    assert "no records" in str(nothing_usable("in.jsonl", []))


def test_guarded_commands_print_one_line_and_exit_non_zero() -> None:
    app = typer.Typer()

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

    guard_app(app)
    runner = CliRunner()
    result = runner.invoke(app, ["bad", "record"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("error: in.jsonl:2: messages: Field required | more detail")
    assert runner.invoke(app, ["bad", "usage"]).exit_code == 2
    assert "x.jsonl" in runner.invoke(app, ["bad", "os"]).output
    assert isinstance(runner.invoke(app, ["bad", "bug"]).exception, KeyError)


def test_one_line_folds_and_cuts() -> None:
    assert one_line("a\n  b\nc") == "a | b | c"
    assert len(one_line("x" * 5000)) == 2000
