"""BFCL-V4 multi-turn end to end: BFCL's entries, backends and checker against OpenAI-compatible test servers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cm2.benchmarks.bfcl.evaluate import BfclConfig, evaluate_bfcl, select_entries
from cm2.benchmarks.bfcl.testing import GroundTruthReplay, refuse
from cm2.eval.results import EvalResult
from cm2.llm import UsageMeter
from cm2.llm.testing import FakeOpenAIServer, FaultConfig, completion_body
from cm2.rollout.endpoint_policy import EndpointPolicy

pytest.importorskip("bfcl_eval")

BASE = ["multi_turn_base_0", "multi_turn_base_1"]
MISS_FUNC = ["multi_turn_miss_func_0"]


def _evaluate(server: FakeOpenAIServer, ids: list[str], out: Path, **settings: Any) -> EvalResult:
    meter = UsageMeter()
    policy = EndpointPolicy.connect(server.base_url, "m", meter=meter, send_max_tokens=False, max_retries=0)
    return asyncio.run(evaluate_bfcl(policy, BfclConfig(ids=ids, **settings), model="m", out_dir=out, meter=meter))


def _records(out: Path) -> list[dict[str, Any]]:
    lines = (out / "bfcl_entries.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_ground_truth_replay_scores_full_marks_and_resumes(tmp_path: Path) -> None:
    with FakeOpenAIServer(GroundTruthReplay(BASE)) as server:
        result = _evaluate(server, BASE, tmp_path)
        first_bodies = list(server.requests)
        again = _evaluate(server, BASE, tmp_path)  # everything is in bfcl_entries.jsonl already
        assert server.request_count == len(first_bodies)
    assert result.categories["multi_turn_base"].score == 1.0 and result.overall == 1.0 and result.n == 2
    assert again.overall == 1.0 and again.n == 2
    assert all(r["valid"] and r["model"] == "m" for r in _records(tmp_path))
    # What BFCL's OpenAI handler sends: its tools (with the Python-syntax hint), BFCL's temperature, no max_tokens.
    body = first_bodies[0]
    assert body["temperature"] == 0.001 and "max_tokens" not in body
    assert all("Python 3 syntax" in tool["function"]["description"] for tool in body["tools"])
    tool_messages = [m for b in first_bodies for m in b["messages"] if m["role"] == "tool"]
    assert tool_messages and all(m["tool_call_id"].startswith("gt_") for m in tool_messages)
    assert result.cost.roles["policy"].requests == len(first_bodies)


def test_held_out_functions_arrive_at_their_turn(tmp_path: Path) -> None:
    replay = GroundTruthReplay(MISS_FUNC)
    with FakeOpenAIServer(replay) as server:
        result = _evaluate(server, MISS_FUNC, tmp_path)
        bodies = list(server.requests)
    assert result.overall == 1.0
    ((entry, _),) = select_entries(BfclConfig(ids=MISS_FUNC))
    turn, names = next(iter(entry["missed_function"].items()))
    held_out = {doc["name"] for doc in names}
    users = [[m for m in b["messages"] if m["role"] == "user"] for b in bodies]
    before = [b for b, u in zip(bodies, users, strict=True) if len(u) <= int(turn)]
    after = [b for b, u in zip(bodies, users, strict=True) if len(u) > int(turn)]
    assert before and after
    assert all(not held_out & {t["function"]["name"] for t in b["tools"]} for b in before)
    assert all(held_out <= {t["function"]["name"] for t in b["tools"]} for b in after)
    holdout_prompt = users[-1][int(turn)]["content"]
    assert "function" in holdout_prompt.lower() and holdout_prompt not in [
        q[0]["content"] for q in entry["question"] if q
    ]


def test_refusing_model_scores_zero(tmp_path: Path) -> None:
    ids = [*BASE, *MISS_FUNC, "multi_turn_miss_param_0", "multi_turn_long_context_0"]
    with FakeOpenAIServer(refuse) as server:
        result = _evaluate(server, ids, tmp_path)
    assert result.overall == 0.0 and len(result.categories) == 4 and result.n == 5
    records = _records(tmp_path)
    assert {r["error_type"] for r in records} == {"multi_turn:empty_turn_model_response"}
    assert all(r["steps"] == r["turns"] for r in records)  # one text answer per turn ends the turn
    markdown = (result.markdown()).splitlines()
    assert markdown[2].startswith("| model | multi_turn_base | multi_turn_miss_func")


def test_step_limit_forces_termination(tmp_path: Path) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "pwd", "arguments": "{}"}}
    with FakeOpenAIServer(lambda _: completion_body(None, tool_calls=[call])) as server:
        result = _evaluate(server, ["multi_turn_base_0"], tmp_path)
        count = server.request_count
    (record,) = _records(tmp_path)
    assert result.overall == 0.0 and record["force_quit"] and record["error_type"] == "multi_turn:force_terminated"
    assert count == 21 and record["turns"] == 1  # BFCL's MAXIMUM_STEP_LIMIT = 20, checked after the step


def test_endpoint_failure_is_an_inference_error(tmp_path: Path) -> None:
    with FakeOpenAIServer(faults=FaultConfig(error_400=1.0)) as server:
        result = _evaluate(server, ["multi_turn_base_0"], tmp_path)
    (record,) = _records(tmp_path)
    assert result.overall == 0.0 and record["error_type"] == "multi_turn:inference_error"
    assert result.categories["multi_turn_base"].detail["inference_errors"] == 1


def test_selection_errors() -> None:
    with pytest.raises(ValueError, match="cannot run offline"):
        select_entries(BfclConfig(categories=["web_search"]))
    with pytest.raises(ValueError, match="no BFCL entry 'multi_turn_base_999'"):
        select_entries(BfclConfig(ids=["multi_turn_base_999"]))
    limited = select_entries(BfclConfig(categories=["multi_turn_base", "multi_turn_miss_param"], limit=2))
    assert [e["id"] for e, _ in limited] == [
        "multi_turn_base_0",
        "multi_turn_base_1",
        "multi_turn_miss_param_0",
        "multi_turn_miss_param_1",
    ]


def test_cli(tmp_path: Path) -> None:
    from cm2.cli import app

    with FakeOpenAIServer(GroundTruthReplay(BASE)) as server:
        args = ["eval", "bfcl", "--set", f"policy={{model: m, base_url: '{server.base_url}'}}", "--ids", ",".join(BASE)]
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "| model | multi_turn_base | overall | n |" in result.output
    saved = EvalResult.model_validate_json((tmp_path / "bfcl.json").read_text(encoding="utf-8"))
    assert saved.overall == 1.0 and saved.benchmark == "bfcl" and (tmp_path / "bfcl.md").is_file()
    assert CliRunner().invoke(app, ["eval", "bfcl", "--ids", "x"]).exit_code == 2  # no endpoint named


@pytest.mark.slow
def test_checkpoint_is_served_for_the_run(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from cm2.cli import app

    args = ["eval", "bfcl", "--checkpoint", str(tiny_checkpoint), "--ids", "multi_turn_base_0", "--set", "max_tokens=4"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (record,) = _records(tmp_path)
    assert record["model"] == tiny_checkpoint.name and record["valid"] is False
    assert record["completion_tokens"] > 0
