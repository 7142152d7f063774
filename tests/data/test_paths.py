"""Path checks before any work (an output that is an input, or the wrong kind of path) and the nothing-usable error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cm2.data.errors import NoUsableRecordsError, no_usable_records
from cm2.data.paths import InputError, check_paths


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
    error = no_usable_records("in.jsonl", [("in.jsonl:3", "invalid JSON"), ("in.jsonl:4", "x")])
    assert isinstance(error, NoUsableRecordsError)
    assert str(error) == "in.jsonl:3: invalid JSON (and 1 more bad record(s)); nothing usable in in.jsonl"
    assert "no records" in str(no_usable_records("in.jsonl", []))
