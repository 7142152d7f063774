"""`cm2 demo --tiny` end to end in a temporary folder (tiny random model, real BFCL backends), then a
rerun that skips every finished stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("bfcl_eval")

from cm2.cli import app as cm2_app
from cm2.demo.stages import read_record
from cm2.schema import Trajectory

STAGES = ["model", "data", "label", "filter", "sft", "eval_base", "eval_sft", "rl", "eval_rl", "eval", "report"]


def test_tiny_demo_runs_every_stage_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(cm2_app, ["demo", "--tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = {name: read_record(out / name) for name in STAGES}
    assert all(records.values()), [name for name, r in records.items() if r is None]
    data = records["data"].outputs  # type: ignore[union-attr]
    assert data["train"]["dialogues"] == 2 and data["heldout"]["dialogues"] == 1
    assert all(int(i.rsplit("_", 1)[1]) % 10 >= 8 for i in data["heldout"]["ids"])
    assert (out / "sft" / "final" / "config.json").is_file() and (out / "rl" / "final" / "config.json").is_file()
    assert not [*out.glob("*/checkpoint-*")]  # finished stages keep their final model only
    rollouts = [Trajectory.model_validate_json(line) for line in (out / "rl" / "trajectories.jsonl").open()]
    assert len(rollouts) == 2 and all(t.tokens is not None and t.rewards for t in rollouts)
    # every rollout's tool calls went to BFCL's backends or were answered with an error object
    sources = {s for t in rollouts for step in t.metadata["steps"] for s in step["tool_sources"]}
    assert sources <= {"executed", "error"}
    scores = records["eval"].outputs["scores"]  # type: ignore[union-attr]
    assert [s["model"] for s in scores] == ["base", "sft", "rl"]
    assert all(0.0 <= s[k] <= 1.0 for s in scores for k in ("exact_call_accuracy", "bfcl_accuracy", "checklist_score"))
    assert all(s["dialogues"] == 1 and s["turns"] >= 1 for s in scores)
    assert (out / "report" / "report.html").stat().st_size > 10_000
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert [s["model"] for s in summary["scores"]] == ["base", "sft", "rl"]
    assert f"report → {out / 'report' / 'report.html'}" in result.output

    again = CliRunner().invoke(cm2_app, ["demo", "--tiny", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert again.output.count("(done earlier in") == len(STAGES)
    assert {name: read_record(out / name) for name in STAGES} == records  # nothing rewritten

    # a changed RL setting reruns RL and what follows it, not the data or SFT stages
    changed = CliRunner().invoke(cm2_app, ["demo", "--tiny", "--out", str(out), "--set", "rl.max_steps=2"])
    assert changed.exit_code == 0, changed.output
    assert read_record(out / "sft") == records["sft"] and read_record(out / "rl") != records["rl"]
    assert len((out / "rl" / "trajectories.jsonl").read_text().splitlines()) == 4  # a fresh run, not appended


def test_bad_settings_are_reported_before_anything_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(cm2_app, ["demo", "--tiny", "--out", str(tmp_path), "--set", "rl.group_size=1"])
    assert result.exit_code == 2 and "group_size" in result.output
    assert not any(tmp_path.iterdir())
    result = CliRunner().invoke(cm2_app, ["demo", "--out", str(tmp_path), "--set", "llm"])
    assert result.exit_code == 2 and "expected KEY=VALUE" in result.output
