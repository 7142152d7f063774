"""`cm2 experiment --parallel`: the waves of child processes, and an RL child stopped on its time budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cm2.demo.experiment as experiment
import cm2.demo.pipeline as pipeline
from cm2.demo.experiment_config import ExperimentConfig

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exits: dict[str, int]) -> tuple[list[str], list[Any], int]:
    """Runs `cm2 experiment --parallel` with each child a real process that exits as `exits` says (0 unless
    named), and the in-process stages recorded, not run. Returns the children started, the in-process calls and
    the exit status."""
    started: list[str] = []
    in_process: list[Any] = []

    def child(settings: ExperimentConfig, log: Path, **changes: Any) -> subprocess.Popen[bytes]:
        (name,) = changes["only"]
        started.append(name)
        assert changes["parallel"] is False  # a child runs its stage, not waves of its own
        return subprocess.Popen([sys.executable, "-c", f"raise SystemExit({exits.get(name, 0)})"])

    def run_demo(config: Any, out: Path, console: Any = None, only: set[str] | None = None) -> None:
        in_process.append(sorted(only) if only is not None else "all")

    monkeypatch.setattr(experiment, "_child", child)
    monkeypatch.setattr(pipeline, "run_demo", run_demo)
    monkeypatch.setattr(experiment, "write_results", lambda *args: tmp_path / "results")
    settings = ExperimentConfig(
        configs=ROOT / "configs/experiment",
        out=tmp_path,
        levels=["trajectory"],
        parallel=True,
        eval_models=["sft", "rl", "rl_last"],
    )
    try:
        experiment.run_experiment(settings)
    except SystemExit as stop:
        return started, in_process, int(stop.code or 0)
    return started, in_process, 0


def test_both_evaluations_of_a_finished_rl_run_start_together_then_the_rest_runs_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, in_process, code = _run(tmp_path, monkeypatch, {})
    assert started == ["rl", "eval_sft", "eval_rl", "eval_rl_last"]
    assert in_process[0][-1] == "sft" and in_process[1] == "all" and code == 0


def test_an_rl_child_stopped_on_its_budget_ends_the_command_with_status_3_before_any_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, in_process, code = _run(tmp_path, monkeypatch, {"rl": experiment.UNFINISHED_EXIT})
    assert code == experiment.UNFINISHED_EXIT
    assert started == ["rl"]  # no evaluation of a model that does not exist yet
    assert len(in_process) == 1  # and no sequential run spending a second budget on RL


def test_a_failed_rl_child_still_leaves_the_rerun_to_the_sequential_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, in_process, code = _run(tmp_path, monkeypatch, {"rl": 1})
    assert started[0] == "rl" and in_process[-1] == "all" and code == 0
