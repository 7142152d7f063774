"""Verdicts decided without the model (checks, tool errors) and verdicts the model cannot give."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from judge_builders import call, dialogue, item, reply, rule_judge, tool, trajectory, user

from cm2.judge import ChecklistJudge, JudgeConfig, TrajectoryJudgement
from cm2.llm import ChatRequest, LLMError
from cm2.llm.fake import ScriptedLLM
from cm2.tools.result import error_object


def judged(messages: list[dict[str, Any]], items: list[dict[str, Any]], llm: ScriptedLLM, **config: Any):
    judge = ChecklistJudge(llm, JudgeConfig(**config))
    return asyncio.run(judge.judge(trajectory(messages), dialogue([items])))


def first(result: TrajectoryJudgement, item_id: str, step: int = 0):
    return next(v for v in result.verdicts if v.item == item_id and v.step == step)


def never_called(request: ChatRequest) -> str:
    raise AssertionError("the model must not be asked")


@pytest.mark.parametrize(
    ("constraint", "value", "ok"),
    [
        ({"kind": "exact", "value": "Paris"}, "Paris", True),
        ({"kind": "exact", "value": "Paris"}, "paris", False),
        ({"kind": "exact", "value": 3}, 3.0, True),
        ({"kind": "exact", "value": {"a": [1, 2]}}, {"a": [1, 2.0]}, True),
        ({"kind": "exact", "value": 1}, True, False),
        ({"kind": "one_of", "values": ["Paris", "Lyon"]}, "Lyon", True),
        ({"kind": "one_of", "values": ["Paris", "Lyon"]}, "Rome", False),
        ({"kind": "numeric", "value": 20.0, "tolerance": 0.5}, 20.4, True),
        ({"kind": "numeric", "value": 20.0, "tolerance": 0.5}, "20.3", True),
        ({"kind": "numeric", "value": 20.0, "tolerance": 0.5}, 21, False),
        ({"kind": "numeric", "value": 20.0}, "warm", False),
        ({"kind": "substring", "value": "paris"}, "Paris, France", True),
        ({"kind": "substring", "value": "Lyon"}, "Paris, France", False),
    ],
)
def test_check_items_are_decided_in_code(constraint: dict[str, Any], value: Any, ok: bool) -> None:
    check = {"tool": "get_weather", "arguments": {"city": constraint}}
    messages = [user("Weather?"), call("get_weather", {"city": value}), tool({"t": 1}), reply("done")]
    llm = ScriptedLLM(never_called)
    result = judged(messages, [item("C1", "assistant.tool_calls", 1.0, check=check)], llm)
    verdict = first(result, "C1")
    assert (verdict.satisfied, verdict.source) == (ok, "check")
    assert verdict.reason
    assert llm.requests == []
    # at the reply step: carried when satisfied, else checked again (no call there, so false)
    assert first(result, "C1", 1).source == ("carried" if ok else "check")


@pytest.mark.parametrize(("allow_extra", "ok"), [(True, True), (False, False)])
def test_extra_arguments(allow_extra: bool, ok: bool) -> None:
    check = {"tool": "get_weather", "arguments": {"city": {"value": "Paris"}}, "allow_extra_arguments": allow_extra}
    messages = [user("Weather?"), call("get_weather", {"city": "Paris", "units": "C"}), tool({"t": 1})]
    result = judged(messages, [item("C1", "assistant.tool_calls", 1.0, check=check)], ScriptedLLM(never_called))
    assert first(result, "C1").satisfied is ok


def test_check_needs_the_named_tool_and_valid_arguments() -> None:
    check = {"tool": "get_weather", "arguments": {"city": {"value": "Paris"}}}
    bad = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "x", "type": "function", "function": {"name": "get_weather", "arguments": "{broken"}},
        {"id": "y", "type": "function", "function": {"name": "get_time", "arguments": "{\"city\": \"Paris\"}"}},
    ]}  # fmt: skip
    messages = [user("Weather?"), bad, tool({"t": 1}, "x"), tool({"t": 2}, "y", "get_time")]
    result = judged(messages, [item("C1", "assistant.tool_calls", 1.0, check=check)], ScriptedLLM(never_called))
    assert first(result, "C1").satisfied is False


def test_failed_tool_call_makes_tool_focused_items_false() -> None:
    messages = [
        user("Weather?"),
        call("get_weather", {"city": 7}),
        tool(error_object("schema_violation", "city must be a string", "get_weather")),
        reply("Sorry, the lookup failed."),
    ]
    items = [
        item("C1", "assistant.tool_calls", 0.3),
        item("C2", "tool.content", 0.3),
        item("C3", "assistant.content.user_visible_reply", 0.2),
        item("C4", "assistant.tool_calls", 0.2, check={"tool": "get_weather"}),
    ]
    llm = ScriptedLLM(rule_judge(lambda i, t, s: True))
    result = judged(messages, items, llm, mode="per_item")
    assert [(first(result, i).satisfied, first(result, i).source) for i in ("C1", "C2", "C4")] == [
        (False, "tool_error")
    ] * 3
    assert "get_weather" in (first(result, "C1").reason or "")
    assert (first(result, "C3").satisfied, first(result, "C3").source) == (False, "check")  # no reply yet
    assert (first(result, "C3", 1).satisfied, first(result, "C3", 1).source) == (True, "llm")
    # the next step has no failed call: the tool items are asked there again
    assert first(result, "C1", 1).source == "llm"
    assert result.usage.tool_error == 3


def test_a_plain_tool_error_message_is_not_a_failed_call() -> None:
    messages = [user("Weather?"), call("get_weather", {"city": "X"}), tool({"error": "no such city"})]
    result = judged(messages, [item("C1", "tool.content", 1.0)], ScriptedLLM(rule_judge(lambda i, t, s: True)))
    assert first(result, "C1").source == "llm"


def test_model_errors_give_unavailable_verdicts_with_the_reason() -> None:
    def down(request: ChatRequest) -> Exception:
        return LLMError("HTTP 503 from the judge endpoint")

    llm = ScriptedLLM(down)
    messages = [user("Weather?"), reply("sunny")]
    result = judged(messages, [item("C1", "assistant.content.user_visible_reply", 1.0)], llm, attempts=3)
    verdict = first(result, "C1")
    assert (verdict.satisfied, verdict.source) == (None, "unavailable")
    assert "HTTP 503" in (verdict.reason or "") and "3 attempts" in (verdict.reason or "")
    assert len(llm.requests) == 3
    assert result.usage.unavailable == 1


@pytest.mark.parametrize("mode", ["per_item", "batched"])
def test_unparsable_answers_are_retried_then_unavailable(mode: str) -> None:
    answers = iter(["I think so", "no json at all", json.dumps({"analysis": "x", "verdicts": "x"})])
    llm = ScriptedLLM(lambda request: next(answers))
    messages = [user("Weather?"), reply("sunny")]
    result = judged(messages, [item("C1", "assistant.content.user_visible_reply", 1.0)], llm, mode=mode, attempts=3)
    verdict = first(result, "C1")
    assert (verdict.satisfied, verdict.source) == (None, "unavailable")
    assert "unusable answer" in (verdict.reason or "")  # the reason of the last attempt
    assert len(llm.requests) == 3


def test_a_retry_can_recover() -> None:
    answers = iter([LLMError("timeout"), "garbage", json.dumps({"analysis": "fine", "satisfied": True})])
    llm = ScriptedLLM(lambda request: next(answers))
    result = judged([user("Hi"), reply("Hello")], [item("C1", "assistant.content.user_visible_reply", 1.0)], llm,
                    mode="per_item")  # fmt: skip
    assert (first(result, "C1").satisfied, first(result, "C1").reason) == (True, "fine")
    assert len({r.seed for r in llm.requests}) == 3  # each retry is a fresh sample


def test_batched_answer_missing_ids_are_asked_again_alone() -> None:
    items = [item(f"C{i}", "assistant.content.thinking", 0.25) for i in range(1, 5)]

    def handler(request: ChatRequest) -> str:
        ids = [json.loads(line)["id"] for line in request.messages[-1]["content"].split("<criteria>\n")[1]
               .split("\n</criteria>")[0].splitlines()]  # fmt: skip
        # the first answer forgets C2 and C4 and names an unknown id; later answers are complete
        keep = [i for i in ids if i not in {"C2", "C4"}] if len(ids) == 4 else ids
        entries = [{"id": i, "analysis": "", "satisfied": True} for i in keep] + [
            {"id": "C9", "analysis": "", "satisfied": True}
        ]
        return json.dumps({"verdicts": entries})

    llm = ScriptedLLM(handler)
    result = judged([user("Hi"), reply("Hello")], items, llm, mode="batched")
    assert len(llm.requests) == 2
    second = llm.requests[1].messages[-1]["content"]
    assert '"id":"C2"' in second and '"id":"C4"' in second and '"id":"C1"' not in second
    assert llm.requests[1].json_schema["properties"]["verdicts"]["items"]["properties"]["id"]["enum"] == ["C2", "C4"]
    assert all(v.satisfied is True and v.source == "llm" for v in result.verdicts)


def test_batched_ids_never_answered_become_unavailable() -> None:
    items = [item("C1", "assistant.content.thinking", 0.5), item("C2", "assistant.content.thinking", 0.5)]
    llm = ScriptedLLM(lambda request: json.dumps({"verdicts": [{"id": "C1", "analysis": "", "satisfied": False}]}))
    result = judged([user("Hi"), reply("Hello")], items, llm, mode="batched", attempts=2)
    assert (first(result, "C1").satisfied, first(result, "C1").source) == (False, "llm")
    assert (first(result, "C2").satisfied, first(result, "C2").source) == (None, "unavailable")
    assert "left out" in (first(result, "C2").reason or "")
    assert len(llm.requests) == 2


def test_items_about_something_not_shown_yet_are_false_without_asking() -> None:
    items = [
        item("R", "assistant.content.user_visible_reply", 0.4),
        item("T", "tool.content", 0.3),
        item("K", "assistant.content.thinking", 0.3),
    ]
    said = {**call("get_weather", {"city": "Paris"}), "content": "Let me check that for you."}  # no <think>
    messages = [user("Weather?"), said, tool({"t": 1}), reply("Sunny.")]
    llm = ScriptedLLM(rule_judge(lambda i, t, s: False))
    result = judged(messages, items, llm, mode="per_item")
    assert (first(result, "R").source, first(result, "T").source) == ("llm", "llm")  # text beside a call counts
    assert (first(result, "K").satisfied, first(result, "K").source) == (False, "check")
    assert first(result, "K").reason == "no reasoning in this turn so far"
    assert first(result, "K", 1).source == "llm"  # the reply step thinks
    plain = judged([user("Weather?"), reply("Sunny.")], items, ScriptedLLM(rule_judge(lambda i, t, s: False)))
    assert (first(plain, "T").satisfied, first(plain, "T").source) == (False, "check")
    asked = ScriptedLLM(rule_judge(lambda i, t, s: False))
    judged([user("Weather?"), reply("Sunny.")], items, asked, mode="per_item", skip_absent_focus=False)
    assert len(asked.requests) == 3
