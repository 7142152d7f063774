"""The judge's rules with a scripted model: which items are asked when, and what each verdict says."""

from __future__ import annotations

import asyncio
import json

import pytest
from judge_builders import asked_ids, call, dialogue, item, reply, rule_judge, tool, trajectory, user

from cm2.judge import ChecklistJudge, JudgeConfig, JudgeInputError, TrajectoryJudgement
from cm2.llm.fake import ScriptedLLM
from cm2.schema import Trajectory


def run(judge: ChecklistJudge, traj: Trajectory | None = None, dlg=None) -> TrajectoryJudgement:
    return asyncio.run(judge.judge(traj or trajectory(), dlg or dialogue()))


def table(result: TrajectoryJudgement) -> dict[tuple[int, int, str], tuple[bool | None, str]]:
    return {(v.turn, v.step, v.item): (v.satisfied, v.source) for v in result.verdicts}


# Turn 0 of the reference has steps 0 (call + tool result) and 1 (reply); turn 1 likewise.
def reference_rule(item_id: str, turn: int, step: int) -> bool:
    """C1, C2, D1 hold once the call is made (step 0); C3 and D2 only with the reply (step 1)."""
    return item_id in {"C1", "C2", "D1"} or step == 1


def test_every_step_gets_a_verdict_per_item_in_order() -> None:
    result = run(ChecklistJudge(ScriptedLLM(rule_judge(reference_rule)), JudgeConfig(mode="per_item")))
    keys = [(v.turn, v.step, v.item) for v in result.verdicts]
    assert keys == [
        (0, 0, "C1"), (0, 0, "C2"), (0, 0, "C3"), (0, 1, "C1"), (0, 1, "C2"), (0, 1, "C3"),
        (1, 0, "D1"), (1, 0, "D2"), (1, 1, "D1"), (1, 1, "D2"),
    ]  # fmt: skip
    assert table(result)[(0, 0, "C3")] == (False, "check")  # no reply yet at step 0: decided without asking
    assert table(result)[(0, 1, "C3")] == (True, "llm")


def test_satisfied_items_are_carried_not_asked_again() -> None:
    llm = ScriptedLLM(rule_judge(reference_rule))
    result = run(ChecklistJudge(llm, JudgeConfig(mode="per_item")))
    assert table(result)[(0, 1, "C1")] == (True, "carried")
    assert table(result)[(0, 1, "C2")] == (True, "carried")
    asked = asked_ids(llm.requests)
    assert (0, 1, "C1") not in asked and (0, 1, "C2") not in asked
    assert sorted(asked) == [(0, 0, "C1"), (0, 0, "C2"), (0, 1, "C3"), (1, 0, "D1"), (1, 1, "D2")]
    assert result.usage.carried == 3 and result.usage.llm == 5 and result.usage.calls == 5
    assert result.usage.check == 2  # C3 and D2 before any reply


def test_items_with_unmet_dependencies_are_still_asked() -> None:
    # C1 (a dependency of C3) never holds; C3 is asked anyway and its verdict is recorded.
    llm = ScriptedLLM(rule_judge(lambda i, t, s: i == "C3"))
    result = run(ChecklistJudge(llm, JudgeConfig(mode="per_item", skip_absent_focus=False)))
    assert (0, 0, "C3") in asked_ids(llm.requests)
    assert table(result)[(0, 0, "C3")] == (True, "llm")
    assert table(result)[(0, 1, "C1")] == (False, "llm")


def test_batched_makes_one_call_per_step_with_open_items() -> None:
    per_item, batched = ScriptedLLM(rule_judge(reference_rule)), ScriptedLLM(rule_judge(reference_rule))
    a = run(ChecklistJudge(per_item, JudgeConfig(mode="per_item")))
    b = run(ChecklistJudge(batched, JudgeConfig(mode="batched")))
    assert len(per_item.requests) == 5
    assert len(batched.requests) == 4  # one per step: every step still has an open item
    assert sorted(asked_ids(batched.requests)) == sorted(asked_ids(per_item.requests))
    assert table(a) == table(b)
    assert b.usage.calls == 4 and b.usage.prompt_tokens < a.usage.prompt_tokens


def test_batched_skips_steps_where_every_item_is_satisfied() -> None:
    messages = [user("Paris?"), call("get_weather", {"city": "Paris"}), tool({"t": 1}), reply("20"), reply("again")]
    llm = ScriptedLLM(rule_judge(lambda i, t, s: True))
    result = run(ChecklistJudge(llm, JudgeConfig(mode="batched")), trajectory(messages))
    assert len(llm.requests) == 2  # C1 and C2 at step 0, C3 at step 1 (the first reply)
    assert [v.source for v in result.verdicts if v.step == 2] == ["carried"] * 3


def test_released_mode_asks_every_item_at_every_step() -> None:
    llm = ScriptedLLM(rule_judge(reference_rule))
    result = run(ChecklistJudge(llm, JudgeConfig(mode="released")))
    assert len(llm.requests) == 10
    assert {v.source for v in result.verdicts} == {"llm"}
    assert table(result)[(0, 1, "C1")] == (True, "llm")


@pytest.mark.parametrize(
    ("answers", "tie", "expected", "source"),
    [
        ([True, True, False], "false", True, "llm"),
        ([False, True, False], "true", False, "llm"),
        ([True, False], "false", False, "llm"),
        ([True, False], "true", True, "llm"),
        ([True, False], "none", None, "unavailable"),
        ([True, None, None], "false", True, "llm"),
        ([None, None, None], "false", None, "unavailable"),
    ],
)
def test_votes_take_the_majority(answers: list[bool | None], tie: str, expected: bool | None, source: str) -> None:
    def handler(request):  # vote i is told apart by its seed (seed + i)
        answer = answers[request.seed % len(answers)]
        return "not json" if answer is None else json.dumps({"analysis": "a", "satisfied": answer})

    config = JudgeConfig(mode="per_item", votes=len(answers), tie=tie, attempts=1)
    dlg = dialogue([[item("C1", "assistant.content.thinking", 1.0)]])
    result = run(ChecklistJudge(ScriptedLLM(handler), config), trajectory(), dlg)
    first = result.verdicts[0]
    assert (first.satisfied, first.source) == (expected, source)
    assert first.votes == answers
    if source == "unavailable":
        assert first.reason


def test_batched_votes_are_combined_per_item() -> None:
    def handler(request):
        flip = request.seed % 3 == 2  # the third vote disagrees on C1
        return json.dumps({"verdicts": [{"id": "C1", "analysis": "", "satisfied": not flip},
                                        {"id": "C2", "analysis": "", "satisfied": flip}]})  # fmt: skip

    dlg = dialogue([[item("C1", "assistant.content.thinking", 0.5), item("C2", "assistant.content.thinking", 0.5)]])
    result = run(ChecklistJudge(ScriptedLLM(handler), JudgeConfig(mode="batched", votes=3)), trajectory(), dlg)
    assert table(result)[(0, 0, "C1")] == (True, "llm") and table(result)[(0, 0, "C2")] == (False, "llm")
    assert result.usage.calls == 6  # 3 votes at each of the 2 steps (C2 stays open)


def test_wrong_dialogue_or_missing_checklist_is_a_clear_error() -> None:
    judge = ChecklistJudge(ScriptedLLM(rule_judge(reference_rule)))
    with pytest.raises(JudgeInputError, match="checklist 2 does not exist"):
        run(judge, trajectory().model_copy(update={"checklist": 2}))
    with pytest.raises(JudgeInputError, match="was given dialogue"):
        run(judge, trajectory().model_copy(update={"dialogue_uuid": "other"}))


def test_trajectory_shorter_than_the_checklist_is_judged_on_reached_turns() -> None:
    messages = [user("Paris?"), call("get_weather", {"city": "Paris"}), tool({"t": 1})]
    result = run(
        ChecklistJudge(ScriptedLLM(rule_judge(reference_rule)), JudgeConfig(mode="batched")), trajectory(messages)
    )
    assert {(v.turn, v.step) for v in result.verdicts} == {(0, 0)}


def test_apply_puts_verdicts_and_usage_on_the_trajectory() -> None:
    result = run(ChecklistJudge(ScriptedLLM(rule_judge(reference_rule))))
    judged = result.apply(trajectory())
    assert judged.verdicts == result.verdicts
    dumped = judged.dump()
    assert dumped["metadata"]["judge"]["calls"] == result.usage.calls
    assert len(dumped["verdicts"]) == 10
