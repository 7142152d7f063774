"""The LLM labeling loop (ScriptedLLM): repair rounds, failures, K samples, cost recording."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from annotate_builders import multi_call_dialogue

from cm2.annotate.answer import parse_checklist
from cm2.annotate.config import LabelConfig
from cm2.annotate.labeler import ChecklistLabeler
from cm2.llm.fake import ScriptedLLM
from cm2.llm.protocol import ChatRequest, ChatResponse, LLMError, Usage
from cm2.testing import sample_dialogue
from cm2.testing.annotation import reference_answer


def _respond(value: Any, cost: float = 0.01) -> ChatResponse:
    text = json.dumps(value)
    return ChatResponse(text=text, parsed=value, usage=Usage(prompt_tokens=100, completion_tokens=50, cost_usd=cost))


def _broken(answer: dict[str, Any]) -> dict[str, Any]:
    bad = copy.deepcopy(answer)
    items = bad["turns"][0]["items"]
    items[0]["evidence"][0]["snippet"] = "a sentence that is nowhere in the dialogue"
    items[1]["dependence"] = ["C9"]
    for item in items:
        item["weight"] = 0.2
    return bad


def test_valid_first_answer_is_accepted_and_priced() -> None:
    dialogue = multi_call_dialogue()
    llm = ScriptedLLM(lambda _: _respond(reference_answer(dialogue), cost=0.0325))
    result = asyncio.run(ChecklistLabeler(llm).label(dialogue))
    assert result.ok and len(llm.requests) == 1
    request = llm.requests[0]
    assert request.json_schema is not None and request.seed == 0
    user = request.messages[1]["content"]
    assert "[turn 1, step 3, assistant]" in user and "2 turn(s)" in user
    record = result.labeled_record()
    assert len(record["checklists"]) == 1 and len(record["checklists"][0]) == 2
    assert {i["extra_info"]["price_usd"] for t in record["checklists"][0] for i in t} == {0.0325}


def test_problems_are_sent_back_and_the_repair_is_accepted() -> None:
    dialogue = multi_call_dialogue()
    good = reference_answer(dialogue)
    answers = iter([_broken(good), good])
    llm = ScriptedLLM(lambda _: _respond(next(answers)))
    result = asyncio.run(ChecklistLabeler(llm).label(dialogue))
    assert result.ok and result.samples[0].rounds == 2
    follow_up = llm.requests[1].messages
    assert [m["role"] for m in follow_up] == ["system", "user", "assistant", "user"]
    assert json.loads(follow_up[2]["content"]) == _broken(good)
    errors = follow_up[3]["content"]
    assert "turn 0, item C0, field evidence[0] (turn 0, step 1)" in errors and "does not occur" in errors
    assert "depends on 'C9'" in errors
    assert "weights sum to 1.2" in errors
    assert result.usage.cost_usd == 0.02


def test_unrecoverable_dialogue_reports_problems_and_last_answer() -> None:
    dialogue = multi_call_dialogue()
    bad = _broken(reference_answer(dialogue))
    llm = ScriptedLLM(lambda _: _respond(bad))
    options = LabelConfig(max_repair_rounds=2)
    result = asyncio.run(ChecklistLabeler(llm, options).label(dialogue))
    assert not result.ok and len(llm.requests) == 3
    failure = result.failure_record()
    assert failure["uuid"] == "trip-1" and "1 of 1 checklist(s) failed" in failure["reason"]
    sample = failure["samples"][0]
    assert sample["rounds"] == 3 and json.loads(sample["last_answer"]) == bad
    assert any("does not occur" in p for p in sample["problems"])
    assert failure["cost_usd"] == 0.03


def test_k_independent_samples_with_distinct_seeds() -> None:
    dialogue = sample_dialogue()
    llm = ScriptedLLM(lambda _: _respond(reference_answer(dialogue)))
    result = asyncio.run(ChecklistLabeler(llm, LabelConfig(num_checklists=3)).label(dialogue))
    assert sorted(r.seed or 0 for r in llm.requests) == [0, 1, 2]
    assert all(len(r.messages) == 2 for r in llm.requests)  # each sample is its own conversation
    assert len(result.labeled_record()["checklists"]) == 3


def test_min_checklists_keeps_a_dialogue_when_enough_samples_succeed() -> None:
    dialogue = sample_dialogue()
    good = reference_answer(dialogue)

    def handler(request: ChatRequest) -> ChatResponse:
        return _respond(good if request.seed == 0 else {"turns": []})

    options = LabelConfig(num_checklists=2, min_checklists=1, max_repair_rounds=0)
    result = asyncio.run(ChecklistLabeler(ScriptedLLM(handler), options).label(dialogue))
    assert result.ok and len(result.labeled_record()["checklists"]) == 1
    strict = asyncio.run(
        ChecklistLabeler(ScriptedLLM(handler), LabelConfig(num_checklists=2, max_repair_rounds=0)).label(dialogue)
    )
    assert not strict.ok


def test_failed_requests_and_non_json_answers_use_up_rounds() -> None:
    dialogue = sample_dialogue()
    prose = ChatResponse(text="Here is my checklist: sorry, I cannot.", usage=Usage(cost_usd=0.0))
    script: list[Any] = [LLMError("boom", usage=Usage(cost_usd=0.001)), prose, _respond(reference_answer(dialogue))]
    answers = iter(script)
    llm = ScriptedLLM(lambda _: next(answers))
    result = asyncio.run(ChecklistLabeler(llm, LabelConfig(max_repair_rounds=2)).label(dialogue))
    assert result.ok and result.samples[0].rounds == 3
    assert "the answer is not JSON" in llm.requests[2].messages[-1]["content"]
    assert len(llm.requests[1].messages) == 2  # the failed request left nothing to repair
    assert round(result.usage.cost_usd, 6) == 0.011


def test_parse_checklist_reports_every_problem_with_its_place() -> None:
    checklist, problems = parse_checklist(
        {
            "turns": [
                {"turn": 0, "items": [{"id": "C0", "focus_on": "assistant.mood", "question": "?"}, 7]},
                {"turn": 5, "items": []},
            ]
        },
        num_turns=3,
    )
    assert len(checklist) == 2
    assert "the answer has 2 turn entries but the dialogue has 3 turns" in problems
    assert any(p.startswith("turn 0, item #0 (C0), field focus_on:") for p in problems)
    assert "turn 0, item #1: an item must be a JSON object" in problems
    assert any("turn entry #1 says turn 5" in p for p in problems)
    assert parse_checklist("nope", 1)[1] == [
        'the answer must be a JSON object {"turns": [...]} with one entry per turn'
    ]
