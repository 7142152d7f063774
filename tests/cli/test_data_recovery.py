"""`cm2 data add-recovery` through the real CLI app, on dialogues played on BFCL's real backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("bfcl_eval")

from cm2.benchmarks.bfcl.data import ImportOptions, import_bfcl
from cm2.cli import app
from cm2.data.io import read_dialogues
from cm2.train.sft_data import untrained_messages

runner = CliRunner()


def test_writes_the_dialogues_then_their_recovery_examples(tmp_path: Path) -> None:
    source, target = tmp_path / "train.jsonl", tmp_path / "with_recovery.jsonl"
    import_bfcl(source, ImportOptions(ids=["multi_turn_base_0", "multi_turn_base_1"]), progress=False)
    result = runner.invoke(app, ["data", "add-recovery", str(source), str(target), "--tools", "bfcl"])
    assert result.exit_code == 0, result.output
    written = list(read_dialogues(target))
    originals = list(read_dialogues(source))
    assert written[: len(originals)] == originals
    variants = written[len(originals) :]
    assert variants and all(len(untrained_messages(d)) == 1 for d in variants)
    assert f"then {len(variants)} recovery examples" in result.output


def test_an_unknown_tool_environment_is_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "train.jsonl"
    import_bfcl(source, ImportOptions(ids=["multi_turn_base_0"]), progress=False)
    result = runner.invoke(app, ["data", "add-recovery", str(source), str(tmp_path / "out.jsonl"), "--tools", "nope"])
    assert result.exit_code == 2 and "unknown tool environment 'nope'" in result.output
    assert not (tmp_path / "out.jsonl").exists()
