"""Held-out checklist evaluation end to end: policy and judge behind real HTTP test servers, the hybrid
simulator replaying the reference tool results, rewards from cm2.reward."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cm2.eval.checklist import ChecklistEvalConfig, evaluate_checklist, simulator_factory
from cm2.eval.checklist_metrics import rollout_metrics, summarize_scores
from cm2.judge import ChecklistJudge, JudgeConfig
from cm2.llm import LLMConfig, UsageMeter, make_client
from cm2.llm.testing import FakeOpenAIServer, FaultConfig, completion_body, refusing_base_url
from cm2.reward import RewardConfig
from cm2.rollout.endpoint_policy import EndpointPolicy
from cm2.schema import Dialogue, Message, Trajectory, Verdict

CITIES = {"Paris": "sunny", "Oslo": "snowy", "Rome": "rainy"}


def _call(city: str, index: int) -> dict[str, Any]:
    arguments = json.dumps({"city": city})
    return {"id": f"c{index}", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


def weather_dialogue(uuid: str, cities: list[str]) -> Dialogue:
    """One turn per city: call get_weather (checked in code, required), then tell the forecast (judged)."""
    messages: list[dict[str, Any]] = []
    checklist = []
    for t, city in enumerate(cities):
        call = _call(city, t)
        messages += [
            {"role": "user", "content": f"Weather in {city}?"},
            {"role": "assistant", "content": "<think>look it up</think>", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": json.dumps({"forecast": CITIES[city]})},
            {"role": "assistant", "content": f"<think>done</think>\n\nIt is {CITIES[city]} in {city}."},
        ]
        checks = {"tool": "get_weather", "arguments": {"city": {"kind": "exact", "value": city}}}
        checklist.append(
            [
                {
                    "id": "C0",
                    "focus_on": "assistant.tool_calls",
                    "question": f"Did it call get_weather for {city}?",
                    "weight": 0.5,
                    "required_for_next_turn": True,
                    "check": checks,
                },
                {
                    "id": "C1",
                    "focus_on": "assistant.content.user_visible_reply",
                    "question": "Did it tell the user the forecast?",
                    "pass_condition": CITIES[city],
                    "weight": 0.5,
                    "dependence": ["C0"],
                },
            ]
        )
    spec = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    return Dialogue.model_validate(
        {
            "uuid": uuid,
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": spec}}],
            "messages": messages,
            "checklists": [checklist],
        }
    )


DIALOGUES = [weather_dialogue("w1", ["Paris"]), weather_dialogue("w2", ["Oslo", "Rome"])]


class ReferenceReplay:
    """A policy server that answers with the reference dialogue's assistant messages, step by step."""

    def __init__(self, dialogues: list[Dialogue]):
        self.by_first = {d.messages[0].content: d for d in dialogues}

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        turn = self.by_first[messages[users[0]]["content"]].turns()[len(users) - 1]
        step = sum(1 for m in messages[users[-1] :] if m["role"] == "assistant")
        reference = turn.steps[step].assistant
        calls = [c.dump() for c in reference.calls] or None
        return completion_body(reference.content, tool_calls=calls, finish_reason="tool_calls" if calls else "stop")


def judge(body: dict[str, Any]) -> str:
    """A judge server: a criterion holds when the last assistant reply contains its pass condition."""
    prompt = body["messages"][-1]["content"]
    transcript = prompt.split("<transcript>\n")[1].split("\n</transcript>")[0].splitlines()
    criteria = [json.loads(line) for line in prompt.split("<criteria>\n")[1].split("\n</criteria>")[0].splitlines()]
    reply = str([json.loads(line) for line in transcript if '"assistant"' in line][-1].get("reply") or "")
    verdicts = [
        {"id": c["id"], "analysis": "read", "satisfied": c.get("pass_condition", "\0") in reply} for c in criteria
    ]
    return json.dumps({"verdicts": verdicts})


def _run(
    policy_server: FakeOpenAIServer,
    judge_url: str,
    out: Path,
    rollouts: int = 1,
    reward: RewardConfig | None = None,
    **judge_llm: Any,
) -> Any:
    meter = UsageMeter()
    config = LLMConfig(model="judge", base_urls=[judge_url], api_key_env=None, **judge_llm)
    checklist_judge = ChecklistJudge(make_client(config, role="judge", meter=meter), JudgeConfig(model="judge"))
    policy = EndpointPolicy.connect(policy_server.base_url, "m", meter=meter, max_retries=0)
    settings = ChecklistEvalConfig(rollouts=rollouts, concurrency=4, reward=reward or RewardConfig())
    return asyncio.run(
        evaluate_checklist(
            policy,
            DIALOGUES,
            checklist_judge,
            settings,
            model="m",
            out_dir=out,
            make_env=simulator_factory(None),
            meter=meter,
        )
    )


def test_reference_replay_scores_full_marks_and_resumes(tmp_path: Path) -> None:
    with FakeOpenAIServer(ReferenceReplay(DIALOGUES)) as policy, FakeOpenAIServer(judge) as judge_server:
        result = _run(policy, judge_server.base_url, tmp_path, rollouts=2)
        calls = policy.request_count
        again = _run(policy, judge_server.base_url, tmp_path, rollouts=2)
        assert policy.request_count == calls  # every rollout was in the trajectories file
    assert result.overall == 1.0 and result.categories["turn"].score == 1.0 and result.n == 4
    assert result.categories["pass:tool_calls"].score == 1.0 and result.categories["pass:reply"].score == 1.0
    assert result.metrics["stopped_early_share"] == 0.0 and result.metrics["steps_with_flip_share"] == 1.0
    assert result.cost.roles["judge"].requests > 0 and result.cost.roles["policy"].requests == calls
    assert again.overall == 1.0 and again.n == 4
    lines = (tmp_path / "checklist_trajectories.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and all(json.loads(line)["metadata"]["model"] == "m" for line in lines)


def test_refusing_policy_scores_zero_and_stops_early(tmp_path: Path) -> None:
    with FakeOpenAIServer(lambda _: "I cannot help with that.") as policy, FakeOpenAIServer(judge) as judge_server:
        result = _run(policy, judge_server.base_url, tmp_path)
    assert result.overall == 0.0 and result.categories["turn"].score == 0.0
    assert result.metrics["stopped_early_share"] == 1.0 and result.metrics["stop:required_item_failed"] == 1.0
    # w2's second turn is never reached: its items count as not passed.
    assert result.categories["pass:tool_calls"].n == 3 and result.categories["turn"].n == 2


@contextmanager
def _judge_down(outage: str) -> Iterator[str]:
    """The base URL of a judge answering 401 or 500, hanging, or refusing connections."""
    faults = {"401": FaultConfig(error_401=1.0), "500": FaultConfig(error_500=1.0), "hang": FaultConfig(hang=1.0)}
    if outage == "refused":
        with refusing_base_url() as url:
            yield url
    else:
        with FakeOpenAIServer(judge, faults=faults[outage]) as server:
            yield server.base_url


@pytest.mark.parametrize("outage", ["401", "500", "hang", "refused"])
def test_a_judge_outage_scores_nothing_and_a_rerun_scores_everything(tmp_path: Path, outage: str) -> None:
    fast = {"max_retries": 0, "timeout_s": 0.5, "failure_threshold": 1000}
    with FakeOpenAIServer(ReferenceReplay(DIALOGUES)) as policy:
        with _judge_down(outage) as judge_url:
            result = _run(policy, judge_url, tmp_path, **fast)
        # every reply item went unjudged: no rollout is scored (not even as 0) or saved as done
        assert result.n == 0 and result.metrics["unfinished_rollouts"] == result.metrics["failed_rollouts"] == 2
        assert (tmp_path / "checklist_trajectories.jsonl").read_text(encoding="utf-8") == ""
        with FakeOpenAIServer(judge) as judge_server:
            again = _run(policy, judge_server.base_url, tmp_path)
    assert again.overall == 1.0 and again.n == 2 and again.metrics["failed_rollouts"] == 0


def test_out_of_order_answer_earns_nothing() -> None:
    dialogue = DIALOGUES[0]
    trajectory = _out_of_order()
    score = rollout_metrics(dialogue, trajectory, RewardConfig())
    assert score.reward == 0.0 and score.satisfied == 1 and score.out_of_order == 1 and score.flips == 0
    summary = summarize_scores([score])
    assert summary.metrics["out_of_order_share"] == 1.0 and summary.focus["reply"] == (0.0, 1)


def test_the_run_reward_settings_decide_the_scores() -> None:
    # Released mode counts an item satisfied anywhere in its turn, dependency met or not: the reply earns 0.5.
    released = rollout_metrics(DIALOGUES[0], _out_of_order(), RewardConfig(mode="released"))
    assert released.reward == pytest.approx(0.5) and released.turn_rewards == [pytest.approx(0.5)]
    assert released.flips == 0 and released.out_of_order == 1  # the flip statistics do not depend on the mode


def test_the_evaluation_scores_with_the_run_reward_settings(tmp_path: Path) -> None:
    """A policy that answers without calling the tool: paper mode gives nothing, released mode credits the reply
    (w1: 0.5 of one turn, w2: 0.5 of two turns; the required call failed, so each stops after turn 0)."""
    answer = "It is sunny, snowy or rainy."
    with FakeOpenAIServer(lambda _: answer) as policy, FakeOpenAIServer(judge) as judge_server:
        paper = _run(policy, judge_server.base_url, tmp_path / "paper")
        released = _run(policy, judge_server.base_url, tmp_path / "released", reward=RewardConfig(mode="released"))
    assert paper.overall == 0.0 and paper.n == released.n == 2
    assert released.overall == pytest.approx((0.5 + 0.25) / 2) and released.categories["turn"].score == 0.5
    assert "(released mode" in released.notes[0] and "(paper mode" in paper.notes[0]


def _out_of_order() -> Trajectory:
    """w1 answered before the required tool call: the reply item holds but its dependency never did."""
    return Trajectory(
        dialogue_uuid="w1",
        messages=[
            Message(role="user", content="Weather in Paris?"),
            Message(role="assistant", content="It is sunny in Paris."),
        ],
        verdicts=[
            Verdict(item="C0", turn=0, step=0, satisfied=False, source="check"),
            Verdict(item="C1", turn=0, step=0, satisfied=True, source="llm"),
        ],
        stop_reason="required_item_failed",
    )


def test_cli(tmp_path: Path) -> None:
    from cm2.cli import app

    data = tmp_path / "held_out.jsonl"
    data.write_text("".join(json.dumps(d.dump()) + "\n" for d in DIALOGUES), encoding="utf-8")
    with FakeOpenAIServer(ReferenceReplay(DIALOGUES)) as policy, FakeOpenAIServer(judge) as judge_server:
        args = ["eval", "checklist", str(data), "--set", f"policy={{model: m, base_url: '{policy.base_url}'}}"]
        judge_args = ["--set", f"judge.llm={{model: judge, base_url: '{judge_server.base_url}'}}"]
        result = CliRunner().invoke(app, [*args, *judge_args, "--out", str(tmp_path / "r")])
        no_judge = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "nj")])
    assert result.exit_code == 0, result.output
    assert "| model | trajectory | turn | pass:tool_calls | pass:reply | overall | n |" in result.output
    # without a judge the reply items have no verdict: nothing scored, exit 1 with one line
    assert no_judge.exit_code == 1 and "2 rollout(s) left out of the scores (2 with judge verdicts" in no_judge.output
    assert json.loads((tmp_path / "nj" / "checklist.json").read_text(encoding="utf-8"))["n"] == 0
    assert json.loads((tmp_path / "r" / "checklist.json").read_text(encoding="utf-8"))["overall"] == 1.0
    bad_votes = CliRunner().invoke(app, ["eval", "checklist", str(data), "--set", "judge.votes=0"])
    assert bad_votes.exit_code == 2 and "judge.votes" in bad_votes.output
    no_policy = CliRunner().invoke(app, ["eval", "checklist", str(data)])
    assert no_policy.exit_code == 2 and "--checkpoint" in no_policy.output
