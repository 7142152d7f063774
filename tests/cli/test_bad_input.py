"""Hundreds of bad inputs through every data-facing verb, in process: no traceback, no exit 0 when nothing
was usable, no output left behind after such a failure, no LLM request spent on unusable input, the input
file named in one line, and a good record beside a bad one still processed (see `bad_input_harness`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_input_harness import FAST_CASES, VERBS, Tally, run_harness


def _assert_clean(tally: Tally, least_runs: int) -> None:
    assert tally.runs >= least_runs
    assert not tally.faults, "\n".join([str(dict(tally.faults)), *tally.examples[:60]])


def test_one_bad_input_of_each_kind_fails_cleanly_in_every_verb(tmp_path: Path) -> None:
    tally = run_harness(tmp_path, cases=FAST_CASES)
    _assert_clean(tally, least_runs=600)
    assert {verb.name for verb in VERBS} <= set(tally.seconds)


@pytest.mark.slow
def test_every_bad_input_fails_cleanly_in_every_verb(tmp_path: Path) -> None:
    _assert_clean(run_harness(tmp_path), least_runs=1400)
