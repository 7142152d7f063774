"""Fixtures of the report tests: real episodes on the reference sample, written as RL run directories."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_builders import CliReport, invoke_cli, run_steps, write_dialogues, write_run

from cm2.reward import RewardConfig
from cm2.schema import Dialogue, Trajectory
from cm2.testing import sample_dialogue


@pytest.fixture(scope="session")
def dialogue() -> Dialogue:
    return sample_dialogue()


@pytest.fixture(scope="session")
def groups(dialogue: Dialogue) -> list[list[Trajectory]]:
    """Six training steps of four rollouts each, scored at trajectory level."""
    return run_steps(dialogue, 6, RewardConfig())


@pytest.fixture(scope="session")
def dialogues_file(tmp_path_factory: pytest.TempPathFactory, dialogue: Dialogue) -> Path:
    return write_dialogues(tmp_path_factory.mktemp("data") / "rl.jsonl", [dialogue])


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory, groups: list[list[Trajectory]], dialogues_file: Path) -> Path:
    """A finished run: train_log.json, every rollout."""
    return write_run(tmp_path_factory.mktemp("runs") / "finished", groups, dialogues_file)


@pytest.fixture(scope="session")
def crashed_run(tmp_path_factory: pytest.TempPathFactory, dialogue: Dialogue, dialogues_file: Path) -> Path:
    """A step-level run that died during step 6: no train_log.json, checkpoint-3, TensorBoard up to step 5,
    a torn last line."""
    groups = run_steps(dialogue, 6, RewardConfig(level="step"))
    return write_run(
        tmp_path_factory.mktemp("runs") / "crashed",
        groups,
        dialogues_file,
        level="step",
        crashed=True,
        tensorboard=True,
    )


@pytest.fixture(scope="session")
def cli_report(run_dir: Path) -> CliReport:
    """`cm2 report RUN_DIR --smooth 3` (default output folder RUN_DIR/report), run once for the session."""
    result = invoke_cli("report", str(run_dir), "--smooth", "3")
    return CliReport(result.exit_code, result.output, run_dir / "report" / "report.html")
