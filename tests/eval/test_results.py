"""The one results format: JSON round trip and the markdown report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cm2.eval.results import CategoryScore, CostReport, EvalResult, git_commit
from cm2.llm import UsageTotals


def test_written_json_and_markdown(tmp_path: Path) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    result = EvalResult(
        benchmark="bfcl",
        model="policy-8b",
        categories={
            "multi_turn_base": CategoryScore(score=0.365, n=200, detail={"force_terminated": 3}),
            "multi_turn_miss_func": CategoryScore(score=0.25, n=200),
        },
        overall=0.3075,
        n=400,
        metrics={"mean_steps_per_entry": 7.5},
        cost=CostReport(roles={"policy": UsageTotals(requests=10, prompt_tokens=900, cost_usd=0.25)}),
        config={"temperature": 0.001},
        started_at=start,
        finished_at=start + dt.timedelta(seconds=90),
        notes=["a note"],
    )
    json_path, md_path = result.write(tmp_path / "results")
    assert EvalResult.model_validate_json(json_path.read_text(encoding="utf-8")) == result
    markdown = md_path.read_text(encoding="utf-8")
    assert "| policy-8b | 36.50 | 25.00 | 30.75 | 400 |" in markdown
    assert "| multi_turn_base.force_terminated | 3 |" in markdown and "| mean_steps_per_entry | 7.5 |" in markdown
    assert "| policy | 10 | 900 | 0 | 0.2500 |" in markdown and "(90.0 s)" in markdown and "- a note" in markdown
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["bfcl.json", "bfcl.md"]  # no temp files left


def test_git_commit_of_this_checkout() -> None:
    commit = git_commit()
    assert commit is None or len(commit.removesuffix("+dirty")) == 40
