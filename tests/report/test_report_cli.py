"""`cm2 report` and `cm2 view` end to end on real run directories and judge output."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from report_builders import CliReport, invoke_cli, make_judge

from cm2.judging.runner import judge_files
from cm2.reward import RewardConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


invoke = invoke_cli


def view_data(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="cm2-view-data">(.*?)</script>', html, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_report_of_one_run_is_self_contained(cli_report: CliReport) -> None:
    assert cli_report.exit_code == 0, cli_report.output
    out = cli_report.html.parent
    html = cli_report.html.read_text(encoding="utf-8")
    for name in ("rewards", "episodes", "monitors", "costs", "pass-rate", "trainer"):
        assert (out / f"{name}.png").read_bytes().startswith(PNG_MAGIC)
        assert f'id="cm2-{name}"' in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the page must not load anything"
    assert html.count("data:image/png;base64,") == 6
    assert "Reward-hacking monitors" in html
    assert "not recorded" in html and "trajectory-level · G=4" in html
    data = view_data(html)
    assert len(data["rollouts"]) == 24 and data["checklists"]  # dialogues found through rl_config.json `data`
    assert "wrote" in cli_report.output


def test_report_overlays_several_runs_and_keeps_the_newest_groups(
    run_dir: Path, crashed_run: Path, tmp_path: Path
) -> None:
    result = invoke("report", str(run_dir), str(crashed_run), "--out", str(tmp_path / "both"), "--max-rollouts", "8")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "both" / "report.html").read_text(encoding="utf-8")
    assert "trajectory-level · G=4" in html and "step-level · G=4" in html
    rollouts = view_data(html)["rollouts"]
    assert [(r["run"], r["train_step"]) for r in rollouts] == [("trajectory-level · G=4", 6)] * 4 + [
        ("step-level · G=4", 6)
    ] * 4
    assert "skipped a torn last line" in result.output


def test_report_of_several_runs_needs_an_output_folder(run_dir: Path, crashed_run: Path) -> None:
    result = invoke("report", str(run_dir), str(crashed_run))
    assert result.exit_code == 2 and "--out" in result.output


def test_view_of_judge_output_with_its_trajectories(run_dir: Path, dialogues_file: Path, tmp_path: Path) -> None:
    trajectories = tmp_path / "rollouts.jsonl"
    trajectories.write_text("".join((run_dir / "trajectories.jsonl").read_text().splitlines(True)[:4]))
    judged = tmp_path / "judged.jsonl"
    # one rollout is FLAKY (an unavailable verdict): accepted here, so that the viewer shows the unknown
    judge = make_judge()
    asyncio.run(
        judge_files(trajectories, dialogues_file, judged, judge, RewardConfig(level="step"), allow_partial=True)
    )
    out = tmp_path / "view.html"
    args = ["view", str(judged), "--trajectories", str(trajectories), "--dialogues", str(dialogues_file)]
    result = invoke(*args, "--out", str(out))
    assert result.exit_code == 0, result.output
    data = view_data(out.read_text(encoding="utf-8"))
    assert len(data["rollouts"]) == 4 and {r["level"] for r in data["rollouts"]} == {"step"}
    assert all(r["turns"][0].get("user") for r in data["rollouts"])


def test_view_in_a_run_directory_uses_the_runs_steps_and_config(run_dir: Path) -> None:
    result = invoke("view", str(run_dir / "trajectories.jsonl"), "--level", "turn", "--max-rollouts", "5")
    assert result.exit_code == 0, result.output
    data = view_data((run_dir / "trajectories.html").read_text(encoding="utf-8"))
    assert [r["train_step"] for r in data["rollouts"]] == [1, 1, 1, 1, 2]
    assert {r["level"] for r in data["rollouts"]} == {"turn"}
    assert "first 5 of 24" in result.output


def test_view_names_the_bad_line(tmp_path: Path, run_dir: Path) -> None:
    lines = (run_dir / "trajectories.jsonl").read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], "{not json", lines[1]]) + "\n")
    result = invoke("view", str(bad))  # the bad line is left out and named; the others are shown
    assert result.exit_code == 0 and "bad.jsonl:2: skipped an unreadable record" in result.output
    assert "(2 rollouts)" in result.output
    hopeless = tmp_path / "hopeless.jsonl"
    hopeless.write_text("{not json\n[1]\n")
    result = invoke("view", str(hopeless))
    assert result.exit_code == 1 and "hopeless.jsonl:1" in result.output
    assert not hopeless.with_suffix(".html").exists()
