"""`cm2 report` on a directory written by a real GRPO run (tiny random model on CPU, TensorBoard on)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_builders import make_judge, write_dialogues

from cm2.report import ReportConfig, build_report, load_run, run_series
from cm2.testing import sample_dialogue
from cm2.tools import HybridToolSimulator

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cm2.llm.testing.tiny_model import build_tiny_model
    from cm2.train.grpo import run_rl
    from cm2.train.rl_config import RLRunConfig

    folder = tmp_path_factory.mktemp("real")
    data = write_dialogues(folder / "rl.jsonl", [sample_dialogue()])
    config = RLRunConfig.model_validate(
        {
            "model": {"path": str(build_tiny_model(folder / "tiny"))},
            "data": str(data),
            "output_dir": str(folder / "out"),
            "group_size": 4,
            "max_steps": 2,
            "use_cpu": True,
            "report_to": ["tensorboard"],
            "save_steps": 1,
            "episode": {
                "sampling": {"max_new_tokens": 8},
                "limits": {"max_steps_per_turn": 2, "max_context_tokens": 1024},
            },
        }
    )
    run_rl(config, make_env=HybridToolSimulator, judge=make_judge())
    return folder / "out"


def test_steps_inferred_from_the_file_match_the_trainers_log(real_run: Path) -> None:
    run = load_run(real_run)
    assert run.steps == [1] * 4 + [2] * 4
    rows = run_series(run.trajectories, run.steps, {}, run.reward)
    logged = dict(zip(*run.metrics.series("reward"), strict=True))
    assert [row.reward_mean for row in rows] == pytest.approx([logged[1], logged[2]])
    assert rows[0].policy_tokens == sum(sum(t.tokens.loss_mask) for t in run.trajectories[:4] if t.tokens)
    assert any(Path(source).name == "runs" for source in run.metrics.sources)


def test_report_of_a_real_run_before_and_after_it_finished(real_run: Path, tmp_path: Path) -> None:
    result = build_report([real_run], tmp_path / "done", options=ReportConfig(smooth=2))
    html = result.html.read_text(encoding="utf-8")
    assert result.rollouts_shown == 8 and "policy tokens generated" in html
    # As if it had crashed: no final log; the checkpoints and TensorBoard still give every step.
    (real_run / "train_log.json").rename(real_run / "train_log.json.bak")
    try:
        run = load_run(real_run)
        assert sorted(run.metrics.steps) == [0, 1, 2]  # 0: the probe set before the first step
        assert "trainer_state.json" in {Path(s).name for s in run.metrics.sources}
        crashed = build_report([real_run], tmp_path / "crashed")
        assert crashed.html.exists() and len(crashed.pngs) == 6  # the five plus the hacking monitors
    finally:
        (real_run / "train_log.json.bak").rename(real_run / "train_log.json")
    assert json.loads((real_run / "rl_config.json").read_text())["group_size"] == 4
