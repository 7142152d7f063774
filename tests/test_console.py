from __future__ import annotations

import pytest

from cm2.console import one_line, print_problems, print_rows, progress


def test_one_line_folds_and_cuts() -> None:
    assert one_line("a\n  b\nc") == "a | b | c"
    assert len(one_line("x" * 5000)) == 2000


def test_problems_list_the_first_few_then_how_many_more(capsys: pytest.CaptureFixture[str]) -> None:
    print_problems([("in.jsonl:1", "bad\nrecord"), ("in.jsonl:2", "x"), ("in.jsonl:3", "y")], 2, "  skipped")
    assert capsys.readouterr().err.splitlines() == [
        "  skipped in.jsonl:1: bad | record",
        "  skipped in.jsonl:2: x",
        "… and 1 more bad record(s)",
    ]


def test_rows_show_lists_as_json_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    print_rows("run", {"tokens": ["<a>", "b"], "steps": 3})
    shown = capsys.readouterr()
    assert shown.out == "" and '["<a>", "b"]' in shown.err and "steps" in shown.err


def test_progress_counts_on_stderr_and_shows_nothing_when_disabled(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("working", 3) as tick:
        tick()
        tick(completed=3)
    assert capsys.readouterr().out == ""
    with progress("quiet", 2, enabled=False) as tick:
        tick()
    assert "quiet" not in capsys.readouterr().err
