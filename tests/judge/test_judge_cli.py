"""`cm2 judge` end to end: real files, the real CLI app, a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from judge_builders import content_judge, write_inputs
from typer.testing import CliRunner

from cm2.cli import app
from cm2.llm.testing import FakeOpenAIServer


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["judge", *args], catch_exceptions=False)


def test_cli_judges_scores_writes_and_resumes(tmp_path: Path) -> None:
    trajectories, dialogues = write_inputs(tmp_path)
    out = tmp_path / "judged.jsonl"
    with FakeOpenAIServer(content_judge) as server:
        llm = ["--set", f"judge.llm={{model: fake-model, base_url: '{server.base_url}', api_key_env: null}}"]
        result = invoke(str(trajectories), str(dialogues), str(out), "--set", "judge.mode=batched", *llm)
        assert result.exit_code == 0, result.output
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["rollout"] for r in records] == [0, 1, 2]
        # rollout 0 earns everything; 1 answers before fetching (C3 needs C1) and stops after turn 0;
        # 2's call fails (tool items false), its reply comes too early, turn 1 is perfect
        assert [r["reward"] for r in records] == pytest.approx([1.0, 0.0, 0.5])
        assert [r["turn_rewards"] for r in records] == [pytest.approx([1.0, 1.0]), [0.0], pytest.approx([0.0, 1.0])]
        assert [r["advantage"] for r in records] == pytest.approx([0.5, -0.5, 0.0])
        sources = {(v["turn"], v["step"], v["item"]): v["source"] for v in records[2]["verdicts"]}
        assert sources[(0, 0, "C1")] == sources[(0, 0, "C2")] == "tool_error"
        assert records[0]["judge"]["calls"] == 4 and records[0]["judge"]["carried"] == 3
        assert "turn 0" in result.output and "✓" in result.output and "advantage" in result.output
        assert (tmp_path / "judged.jsonl.verdicts.sqlite").exists()
        calls = server.request_count

        again = invoke(str(trajectories), str(dialogues), str(out), "--set", "judge.mode=batched", *llm)
        assert again.exit_code == 0 and "skipped 3" in again.output
        assert server.request_count == calls and len(out.read_text().splitlines()) == 3

        # a torn group (last record lost): only it is written again, its verdicts come from the cache
        out.write_text("\n".join(out.read_text().splitlines()[:2]) + "\n")
        resumed = invoke(str(trajectories), str(dialogues), str(out), "--set", "judge.mode=batched", *llm)
        assert resumed.exit_code == 0, resumed.output
        assert server.request_count == calls
        rewritten = [json.loads(line) for line in out.read_text().splitlines()]
        assert rewritten[2]["judge"]["calls"] == 0 and rewritten[2]["judge"]["cache_hits"] > 0
        assert [{**r, "judge": None} for r in rewritten] == [{**r, "judge": None} for r in records]


def test_cli_turn_level_from_a_config_file_and_flags_override_it(tmp_path: Path) -> None:
    trajectories, dialogues = write_inputs(tmp_path)
    out = tmp_path / "judged.jsonl"
    with FakeOpenAIServer(content_judge) as server:
        config = tmp_path / "judge.yaml"
        config.write_text(
            f"judge:\n  mode: per_item\nllm:\n  model: fake-model\n  base_urls: ['{server.base_url}']\n"
            "  api_key_env: null\nreward:\n  level: turn\n  scale: std\n"
        )
        result = invoke(
            str(trajectories), str(dialogues), str(out), "--config", str(config), "--set", "reward.scale=one",
            "--set", "judge.cache_path=null",
            "--show", "0",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["level"] == "turn" and r["advantage"] is None for r in records)
    # turn 0 rewards 1, 0, 0 (mean 1/3); turn 1 rewards 1 and 1 for the two rollouts that reached it and 0 for
    # the one that did not (the paper's statistics run over all G rollouts: mean 2/3)
    assert records[0]["advantages"][0] == pytest.approx([2 / 3, 2 / 3])
    assert records[1]["advantages"] == [pytest.approx([-1 / 3])]
    assert records[2]["advantages"][1] == pytest.approx([1 / 3, 1 / 3])
    assert records[0]["judge"]["calls"] == 5  # per item: C1, C2, then C3; D1, then D2 (replies only once there)
    assert not (tmp_path / "judged.jsonl.verdicts.sqlite").exists()


def test_cli_reports_bad_input_clearly(tmp_path: Path) -> None:
    trajectories, dialogues = write_inputs(tmp_path)
    bad_line = '{"rollout": 9, "messages": []}\n'
    only_bad = tmp_path / "only-bad.jsonl"
    only_bad.write_text(bad_line)
    result = invoke(str(only_bad), str(dialogues), str(tmp_path / "o.jsonl"), "--set", "judge.llm.model=m")
    assert result.exit_code == 1 and not (tmp_path / "o.jsonl").exists()
    assert "only-bad.jsonl:1: not a trajectory: dialogue_uuid" in result.output

    # a bad record among good ones is left out and named; the others are judged
    broken = tmp_path / "broken.jsonl"
    broken.write_text(trajectories.read_text() + bad_line)
    with FakeOpenAIServer(content_judge) as server:
        llm = ["--set", f"judge.llm={{model: fake-model, base_url: '{server.base_url}', api_key_env: null}}"]
        result = invoke(str(broken), str(dialogues), str(tmp_path / "o.jsonl"), *llm)
    assert result.exit_code == 0, result.output
    assert "left out" in result.output and "broken.jsonl:4" in result.output
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 3

    # the output may not be an input
    result = invoke(str(trajectories), str(dialogues), str(dialogues), "--set", "judge.llm.model=m")
    assert result.exit_code == 2 and "is the input" in result.output

    result = invoke(str(trajectories), str(dialogues), str(tmp_path / "o.jsonl"))
    assert result.exit_code == 2 and "judge.llm.model" in result.output
