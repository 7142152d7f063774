"""Per-step figures of a run: rewards, early stops, sources, pass rates, and costs only where recorded."""

import asyncio
from pathlib import Path

import pytest
from report_builders import SCHEDULE, make_judge

from cm2.report import load_run, run_series
from cm2.report.series import StepStats
from cm2.report.tables import RunTotals, cost_rows, coverage_notes
from cm2.reward import RewardConfig
from cm2.schema import Dialogue, Trajectory


def series(groups: list[list[Trajectory]], dialogues: dict[str, Dialogue]) -> list[StepStats]:
    flat = [t for group in groups for t in group]
    steps = [i // 4 + 1 for i in range(len(flat))]
    return run_series(flat, steps, dialogues, RewardConfig())


def test_rewards_stops_and_sources_per_step(groups: list[list[Trajectory]], dialogue: Dialogue) -> None:
    rows = series(groups, {dialogue.uuid: dialogue})
    assert [r.step for r in rows] == [1, 2, 3, 4, 5, 6]
    for row, group, variants in zip(rows, groups, SCHEDULE, strict=True):
        # a rollout the judge could not fully score (schema's FLAKY step) has no reward, and its episode ended
        # for want of a verdict (judge_unavailable), not as the policy's early stop
        scored = [t.rewards["trajectory"] for t in group if not t.unavailable_verdicts()]
        assert row.reward_mean == pytest.approx(sum(scored) / len(scored))
        assert row.early_stop_rate == variants.count("early") / 4
        assert row.tool_results.get("simulated", 0) == variants.count("simulated")
        assert row.tool_results.get("error", 0) == variants.count("schema")
        assert row.tool_results.get("replayed", 0) == variants.count("reference") + variants.count("xss")
    assert rows[0].verdicts["tool_error"] > 0 and rows[0].verdicts["unavailable"] > 0


def test_pass_rate_per_focus(groups: list[list[Trajectory]], dialogue: Dialogue) -> None:
    last = series(groups, {dialogue.uuid: dialogue})[-1]
    # Step 6: three reference rollouts (every item of all 3 turns holds) and one that misses turn 2's C1,
    # a reply item: 12 reply items per rollout, one failed.
    assert last.pass_rate == {
        "assistant.tool_calls": 1.0,
        "tool.content": 1.0,
        "assistant.content.user_visible_reply": pytest.approx(47 / 48),
    }
    assert series(groups, {})[0].pass_rate == {}


def test_costs_not_recorded_stay_unknown_not_zero(run_dir: Path) -> None:
    run = load_run(run_dir)
    for trajectory in run.trajectories:  # as written by a runner that kept no accounts
        trajectory.metadata.pop("usage", None)
    rows = run_series(run.trajectories, run.steps, {}, run.reward)
    assert all(r.judge is None and r.simulator is None and r.policy_tokens is None for r in rows)
    table = {row.name: row.values[0] for row in cost_rows([RunTotals(run, rows)], smooth=3)}
    assert table["judge dollars"] is None and table["simulator calls"] is None
    assert table["policy tokens generated"] is None
    assert table["tool answers simulated"] == str(sum(v.count("simulated") for v in SCHEDULE)) == "6"
    assert table["rollouts"] == "24"
    assert table["mean step time (trainer log)"] == "1.50 s"
    notes = coverage_notes(run)
    assert any("judge usage (calls, tokens, dollars) not recorded" in n for n in notes)


def test_recorded_judge_usage_is_summed(groups: list[list[Trajectory]], dialogue: Dialogue, run_dir: Path) -> None:
    judge = make_judge()
    bare = [t.model_copy(deep=True) for t in groups[0]]
    for trajectory in bare:  # keep only the usage that `cm2 judge` records below
        trajectory.metadata.pop("usage", None)
    judged = [asyncio.run(judge.judge(t, dialogue)).apply(t) for t in bare[:3]] + bare[3:]
    row = run_series(judged, [1] * 4, {}, RewardConfig())[0]
    usage = [t.metadata["judge"] for t in judged[:3]]
    assert row.judge is not None and row.judge.rollouts == 3
    assert row.judge.calls == sum(u["calls"] for u in usage) > 0
    assert row.judge.prompt_tokens == sum(u["prompt_tokens"] for u in usage)
    run = load_run(run_dir)
    run.trajectories = judged
    assert any("recorded by 3 of 4 rollouts" in n for n in coverage_notes(run))
