"""Hundreds of bad inputs through every data-facing verb: no traceback, no exit 0 on nothing usable, no
output left behind after a failure, no LLM request spent on unusable input, the file named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_input_harness import VERBS, run_harness

FAST_VERBS = [verb for verb in VERBS if not verb.name.startswith(("train", "eval", "report"))]


def _check(tally_runs: int, faults: dict[str, int], examples: list[str], least: int) -> None:
    assert tally_runs >= least
    assert not faults, "\n".join([str(faults), *examples[:60]])


def test_bad_inputs_fail_cleanly_in_every_fast_verb(tmp_path: Path) -> None:
    tally = run_harness(tmp_path, verbs=FAST_VERBS)
    _check(tally.runs, dict(tally.faults), tally.examples, least=500)


@pytest.mark.slow
def test_bad_inputs_fail_cleanly_in_every_verb(tmp_path: Path) -> None:
    tally = run_harness(tmp_path)
    _check(tally.runs, dict(tally.faults), tally.examples, least=700)
