"""GRPO when the judge cannot answer: rollouts missing a verdict are run again or dropped, never trained on
as if the missing verdicts were false. One GRPO step on CPU with a tiny random model and the real judge
talking HTTP to the fault-injecting server."""

import json
from pathlib import Path
from typing import Any

import pytest
from rl_builders import tiny_rl_config

from cm2.build import build_judge
from cm2.llm.testing import FakeOpenAIServer, FaultConfig
from cm2.schema import Trajectory
from cm2.tools import HybridToolSimulator
from cm2.train.grpo import run_rl


def every_item_holds(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    criteria = [json.loads(line) for line in prompt.split("<criteria>\n")[1].split("\n</criteria>")[0].splitlines()]
    return json.dumps({"verdicts": [{"id": c["id"], "analysis": "fine", "satisfied": True} for c in criteria]})


def train_one_step(tmp_path: Path, model: Path, judge_url: str, unavailable: dict[str, Any]) -> list[Any]:
    """Run one GRPO step of 4 rollouts; returns the trainer's log history."""
    config = tiny_rl_config(
        tmp_path,
        model,
        judge={
            "llm": {"model": "judge", "base_urls": [judge_url], "api_key_env": None, "max_retries": 0},
            "attempts": 1,
            "skip_absent_focus": False,  # every step asks the judge
        },
        unavailable=unavailable,
        episode={"limits": {"max_turns": 1, "max_steps_per_turn": 1}},
    )
    run_rl(config, make_env=HybridToolSimulator, judge=build_judge(config.judge))
    return list(json.loads((tmp_path / "out" / "train_log.json").read_text()))


def trajectories(tmp_path: Path) -> list[Trajectory]:
    lines = (tmp_path / "out" / "trajectories.jsonl").read_text().splitlines()
    return [Trajectory.model_validate_json(line) for line in lines]


def test_retry_runs_the_rollouts_again_once_the_judge_is_back(tmp_path: Path, tiny_chatml_model: Path) -> None:
    faults = FaultConfig(plan=["error_401", "error_401"])  # the first two questions get 401
    with FakeOpenAIServer(every_item_holds, faults=faults) as server:
        history = train_one_step(tmp_path, tiny_chatml_model, server.base_url, {"action": "retry", "wait_s": 0})
    step = next(entry for entry in history if "loss" in entry)
    # The two refused questions may belong to one rollout or to two (the judge's requests interleave).
    assert server.faults["error_401"] == 2 and step["cm2/unavailable_retried"] in (1, 2)
    assert step["cm2/unavailable_dropped"] == 0
    kept = trajectories(tmp_path)
    assert len(kept) == 4 and not any(t.unavailable_verdicts() for t in kept)
    # C0 flips (0.5); C1 holds at the same step but needs C0 first (0): R = 0.5 / 2 reference turns
    assert all(t.rewards["valid"] and t.rewards["trajectory"] == 0.25 for t in kept)


def test_drop_trains_on_without_the_rollouts_the_judge_could_not_score(tmp_path: Path, tiny_chatml_model: Path) -> None:
    with FakeOpenAIServer(every_item_holds, faults=FaultConfig(error_401=1.0)) as server:
        history = train_one_step(tmp_path, tiny_chatml_model, server.base_url, {"action": "drop"})
    step = next(entry for entry in history if "loss" in entry)
    assert server.request_count > 0 and step["cm2/unavailable_dropped"] == 4 and step["cm2/unavailable_retried"] == 0
    kept = trajectories(tmp_path)
    assert len(kept) == 4 and all(t.unavailable_verdicts() and not t.rewards["valid"] for t in kept)


def test_retry_stops_training_when_the_judge_stays_down(tmp_path: Path, tiny_chatml_model: Path) -> None:
    with (
        FakeOpenAIServer(every_item_holds, faults=FaultConfig(error_401=1.0)) as server,
        pytest.raises(RuntimeError, match=r"4 rollout\(s\) still lack judge verdicts after 1 re-run.*HTTP 401"),
    ):
        train_one_step(tmp_path, tiny_chatml_model, server.base_url, {"action": "retry", "retries": 1, "wait_s": 0})
    assert not (tmp_path / "out" / "final").exists()
