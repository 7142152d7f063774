"""`cm2 judge` when the judge cannot answer: no outage is ever written as a score, the command exits 1
with one line, and a rerun finishes the job. Against the real fault-injecting HTTP server on 127.0.0.1
(401, 500, a hang past the timeout) and a port that refuses connections, with a run killed by SIGKILL."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from judge_builders import content_judge, write_inputs
from typer.testing import CliRunner

from cm2.cli import app
from cm2.llm.testing import OUTAGES, FakeOpenAIServer, FaultConfig, outage_base_url
from cm2.testing.processes import kill_cli_when


@contextmanager
def judge_endpoint(outage: str) -> Iterator[str]:
    """The base URL of a judge suffering `outage`."""
    with outage_base_url(outage, content_judge) as url:
        yield url


def config(tmp_path: Path, attempts: int = 1, max_retries: int = 1) -> Path:
    path = tmp_path / "judge.yaml"
    llm = {"model": "fake-model", "api_key_env": None, "timeout_s": 0.5, "max_retries": max_retries}
    llm |= {"backoff_base_s": 0.01, "backoff_max_s": 0.02, "failure_threshold": 1000}
    path.write_text(yaml.safe_dump({"llm": llm, "judge": {"attempts": attempts}}), encoding="utf-8")
    return path


def judge(trajectories: Path, dialogues: Path, out: Path, cfg: Path, url: str, *extra: str) -> Any:
    args = [
        "judge",
        str(trajectories),
        str(dialogues),
        str(out),
        "--config",
        str(cfg),
        "--set",
        f"judge.llm.base_url={url}",
    ]
    return CliRunner().invoke(app, [*args, "--show", "0", *extra], catch_exceptions=False)


def records(out: Path) -> list[dict[str, Any]]:
    """The complete lines of `out` (a line torn by SIGKILL is left out: the next run cuts it off)."""
    if not out.exists():
        return []
    found = []
    for line in out.read_text().splitlines():
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return found


def no_missing_verdicts(record: dict[str, Any]) -> bool:
    return all(v["satisfied"] is not None for v in record["verdicts"])


@pytest.mark.parametrize("outage", sorted(OUTAGES))
def test_an_outage_is_never_written_as_a_score_and_a_rerun_finishes(tmp_path: Path, outage: str) -> None:
    trajectories, dialogues = write_inputs(tmp_path)
    out, cfg = tmp_path / "judged.jsonl", config(tmp_path)
    with judge_endpoint(outage) as url:
        down = judge(trajectories, dialogues, out, cfg, url)
    assert down.exit_code == 1, down.output
    assert records(out) == []  # nothing written, so nothing to skip next time
    error = next(line for line in down.output.splitlines() if line.startswith("error:"))
    assert "3 rollout(s) in 1 group(s) not written" in error and "run again to retry" in error
    assert "dialogue dlg-1, rollout 0, turn 0, step 0" in error and "judge call failed" in error

    with FakeOpenAIServer(content_judge) as server:
        up = judge(trajectories, dialogues, out, cfg, server.base_url)
    assert up.exit_code == 0, up.output
    assert "skipped 0 already there" in up.output
    written = records(out)
    assert [r["rollout"] for r in written] == [0, 1, 2]
    assert [r["reward"] for r in written] == pytest.approx([1.0, 0.0, 0.5])  # as if the outage never was
    assert all(r["valid"] and no_missing_verdicts(r) for r in written)


def test_allow_partial_writes_the_outage_as_invalid_rollouts_and_exits_0(tmp_path: Path) -> None:
    trajectories, dialogues = write_inputs(tmp_path)
    out, cfg = tmp_path / "judged.jsonl", config(tmp_path)
    with judge_endpoint("401") as url:
        accepted = judge(trajectories, dialogues, out, cfg, url, "--allow-partial")
    assert accepted.exit_code == 0, accepted.output
    assert "3 rollout(s) written with unavailable verdicts (--allow-partial)" in accepted.output
    written = records(out)
    # unknown='drop' (the default): no reward counts, no advantage moves the policy
    assert len(written) == 3 and not any(r["valid"] for r in written)
    assert all(r["advantage"] == 0.0 for r in written) and "mean reward n/a (0 valid)" in accepted.output
    with judge_endpoint("401") as url:
        again = judge(trajectories, dialogues, out, cfg, url)
    assert again.exit_code == 0 and "skipped 3" in again.output  # accepted means done


def write_groups(tmp_path: Path, groups: int) -> tuple[Path, Path]:
    """`groups` copies of the three-rollout group of `write_inputs`, labeled g0, g1, ..., each assistant
    message marked with its group (so every group asks the judge its own questions; the verdicts stay)."""
    trajectories, dialogues = write_inputs(tmp_path)
    lines = [json.loads(line) for line in trajectories.read_text().splitlines()]

    def marked(messages: list[dict[str, Any]], g: int) -> list[dict[str, Any]]:
        return [
            {**m, "content": f"{m['content']} [group {g}]"} if m["role"] == "assistant" and m.get("content") else m
            for m in messages
        ]

    many = [
        {**line, "group": f"g{g}", "messages": marked(line["messages"], g)} for g in range(groups) for line in lines
    ]
    trajectories.write_text("".join(json.dumps(line) + "\n" for line in many))
    return trajectories, dialogues


def test_sigkill_and_flaky_judge_then_reruns_lose_repeat_and_invent_nothing(tmp_path: Path) -> None:
    trajectories, dialogues = write_groups(tmp_path, 12)
    cfg = config(tmp_path, attempts=2, max_retries=0)  # an item is lost when both of its calls fail
    clean = tmp_path / "clean.jsonl"
    with FakeOpenAIServer(content_judge) as server:
        assert (
            judge(trajectories, dialogues, clean, cfg, server.base_url, "--set", "judge.cache_path=null").exit_code == 0
        )
    expected = {(r["group"], r["rollout"]): r for r in records(clean)}
    assert len(expected) == 36

    out = tmp_path / "judged.jsonl"
    faults = FaultConfig(error_500=0.2, error_401=0.1)
    with FakeOpenAIServer(content_judge, faults=faults, seed=5, latency_s=0.05) as server:
        args = ["judge", str(trajectories), str(dialogues), str(out), "--config", str(cfg)]
        args += ["--set", f"judge.llm.base_url={server.base_url}", "--show", "0"]
        process = kill_cli_when(args, lambda: bool(records(out)), timeout_s=120)
        assert process.returncode == -signal.SIGKILL, process.stderr.read().decode() if process.stderr else ""
        first = records(out)
        assert 0 < len(first) < 36  # the kill landed mid-run
        exits = []
        for _ in range(20):  # the judge stays flaky: each rerun retries only what is still unfinished
            exits.append(judge(trajectories, dialogues, out, cfg, server.base_url).exit_code)
            if exits[-1] == 0:
                break
    assert exits[-1] == 0 and set(exits) <= {0, 1}, exits
    assert sum(server.faults.values()) > 0
    final = records(out)
    keys = [(r["group"], r["rollout"]) for r in final]
    assert len(keys) == len(set(keys)) == 36  # none lost, none twice
    assert final[: len(first)] == first  # what was written stayed, in place
    assert all(no_missing_verdicts(r) for r in final)  # no outage became a score
    for record in final:
        want = expected[(record["group"], record["rollout"])]
        assert (record["reward"], record["advantage"], record["verdicts"]) == (
            want["reward"],
            want["advantage"],
            want["verdicts"],
        )
