"""Rebuilding a run from its directory alone: finished, crashed (torn last line, no train_log.json), odd."""

import json
import re
import shutil
from pathlib import Path

import pytest
from report_builders import trl_log

from cm2.report import assign_steps, load_records, load_run
from cm2.report.run_dir import RunConfigView
from cm2.schema import Trajectory


def test_finished_run_steps_follow_the_trainers_batches(run_dir: Path, groups: list[list[Trajectory]]) -> None:
    run = load_run(run_dir)
    assert len(run.trajectories) == 24
    assert run.steps == [step for step in range(1, 7) for _ in range(4)]
    assert run.step_origin.startswith("inferred from file order")
    assert run.label == "trajectory-level · G=4"
    assert run.metrics.sources == [str(run_dir / "train_log.json")]
    steps, rewards = run.metrics.series("reward")
    assert steps == [1, 2, 3, 4, 5, 6]
    assert rewards == pytest.approx([sum(t.rewards["trajectory"] for t in g) / 4 for g in groups])
    assert run.metrics.series("cm2/early_stop_rate")[1][0] == 0.5  # the schema rollout ends as judge_unavailable


def test_crashed_run_is_rebuilt_from_checkpoint_tensorboard_and_complete_lines(crashed_run: Path) -> None:
    run = load_run(crashed_run)
    assert len(run.trajectories) == 24  # the torn 25th line is skipped
    assert any("trajectories.jsonl:25: skipped a torn last line" in note for note in run.notes)
    assert not (crashed_run / "train_log.json").exists()
    assert [Path(s).name for s in run.metrics.sources] == ["trainer_state.json", "runs"]
    # checkpoint-3 holds steps 1-3; TensorBoard (train/ tags) also has 4 and 5.
    assert sorted(run.metrics.steps) == [1, 2, 3, 4, 5]
    assert run.metrics.series("kl")[1] == pytest.approx([0.001 * s for s in range(1, 6)])
    assert "cm2/early_stop_rate" in run.metrics.names()
    assert run.label == "step-level · G=4"


def test_a_bad_line_before_the_end_is_left_out_and_named(tmp_path: Path, run_dir: Path) -> None:
    lines = (run_dir / "trajectories.jsonl").read_text().splitlines()
    lines[2] = lines[2][:40]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    loaded = load_records(path)
    assert len(loaded.trajectories) == len(lines) - 1
    assert any(note.startswith(f"{path}:3: skipped an unreadable record") for note in loaded.notes)


def test_an_invalid_record_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps({"dialogue_uuid": "d", "messages": [{"role": "robot"}]}) + "\n")
    loaded = load_records(path)
    assert not loaded.trajectories
    assert any(re.match(r".*odd.jsonl:1: skipped \(messages.0.role", note) for note in loaded.notes)


def test_unreadable_train_log_falls_back_to_checkpoints(
    tmp_path: Path, run_dir: Path, groups: list[list[Trajectory]]
) -> None:
    copy = shutil.copytree(run_dir, tmp_path / "run")
    (copy / "train_log.json").write_text('[{"loss": 0.1, "st')
    (copy / "checkpoint-6").mkdir()
    (copy / "checkpoint-6" / "trainer_state.json").write_text(json.dumps({"log_history": trl_log(groups)}))
    run = load_run(copy)
    assert any("unreadable train_log.json" in note for note in run.notes)
    assert sorted(run.metrics.steps) == [1, 2, 3, 4, 5, 6]


def test_missing_config_and_metrics_are_reported_not_invented(tmp_path: Path, run_dir: Path) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    shutil.copy(run_dir / "trajectories.jsonl", folder / "trajectories.jsonl")
    run = load_run(folder)
    assert run.label == "bare" and run.reward.level == "trajectory"
    assert any("rl_config.json: missing" in note for note in run.notes)
    assert any("no trainer metrics" in note for note in run.notes)
    assert run.metrics.steps == {}


def test_recorded_train_steps_win_and_iterations_stretch_batches(groups: list[list[Trajectory]]) -> None:
    flat = [t.model_copy(deep=True) for group in groups for t in group]
    config = RunConfigView(group_size=4, num_iterations=2)
    assert assign_steps(flat, config)[0][::4] == [1, 3, 5, 7, 9, 11]
    for index, trajectory in enumerate(flat):
        trajectory.metadata["train_step"] = 100 + index // 8
    steps, origin = assign_steps(flat, config)
    assert steps[::8] == [100, 101, 102] and origin.startswith("recorded")


def test_labels_without_a_batch_index_fall_back_to_batch_size(groups: list[list[Trajectory]]) -> None:
    flat = [t.model_copy(update={"group": "d:0"}) for group in groups for t in group]
    steps, origin = assign_steps(flat, RunConfigView(group_size=4, dialogues_per_step=2))
    assert steps == [1 + i // 8 for i in range(24)]
    assert "8 rollouts per batch" in origin
