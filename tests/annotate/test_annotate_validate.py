"""Checks of LLM-written checklists: evidence quoting, later-turn evidence, tool checks, weights."""

from __future__ import annotations

from typing import Any

from annotate_builders import multi_call_dialogue

from cm2.annotate.config import ValidationConfig
from cm2.annotate.evidence import evidence_problem, snippet_occurs
from cm2.annotate.validate import checklist_problems
from cm2.schema import Dialogue, TurnChecklist
from cm2.testing import sample_dialogue


def _item(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "C0",
        "evidence": [{"turn": 0, "step": 1, "from": "assistant.tool_calls", "snippet": "search_flights"}],
        "focus_on": "assistant.tool_calls",
        "question": "Did it search?",
        "weight": 1.0,
    }
    return {**base, **fields}


def _problems(dialogue: Dialogue, turn0: list[dict[str, Any]], **opts: Any) -> list[str]:
    rest = [
        TurnChecklist.model_validate(
            [
                _item(
                    evidence=[{"turn": t, "step": 0, "from": "user.content", "snippet": (turn.user.content or "")[:20]}]
                )
            ]
        )
        for t, turn in enumerate(dialogue.turns())
        if t > 0
    ]
    return checklist_problems(dialogue, [TurnChecklist.model_validate(turn0), *rest], ValidationConfig(**opts))


def test_released_sample_checklist_passes_every_check() -> None:
    dialogue = sample_dialogue()
    assert checklist_problems(dialogue, dialogue.checklists[0], ValidationConfig()) == []


def test_snippet_matching_forgives_spacing_quotes_and_ellipses() -> None:
    text = "It looks like   there was an issue.\nThe system expects a numeric team ID, but I’m unsure."
    assert snippet_occurs("there was an issue. The system expects", text)
    assert snippet_occurs("but I'm unsure", text)
    assert snippet_occurs("It looks like ... a numeric team ID", text)
    assert not snippet_occurs("a numeric team ID ... It looks like", text)  # fragments must keep their order
    assert not snippet_occurs("there was no issue", text)
    assert not snippet_occurs("   ", text)
    call = '{"name": "f", "arguments": "{\\"teamid\\": \\"Washington Huskies\\"}"}'
    assert snippet_occurs('"arguments": {"teamid": "Washington Huskies"}', call, loose=True)


def test_evidence_must_quote_the_right_part_of_the_right_message() -> None:
    message = multi_call_dialogue().turns()[0].messages[1]  # assistant: thinking + two calls
    assert evidence_problem(message, "assistant.tool_calls", '"destination": "Paris"') is None
    assert evidence_problem(message, "assistant.content.thinking", "Search flights and weather") is None
    problem = evidence_problem(message, "assistant.content.thinking", "search_flights")
    assert problem is not None and "does not occur in the assistant.content.thinking" in problem
    assert "has no user_visible_reply" in (evidence_problem(message, "assistant.content.user_visible_reply", "x") or "")
    assert "but that step is a assistant message" in (evidence_problem(message, "tool.content", "x") or "")
    assert "use one of" in (evidence_problem(message, "assistant", "x") or "")


def test_structural_problems_are_listed_with_turn_item_and_field() -> None:
    dialogue = multi_call_dialogue()
    problems = _problems(
        dialogue,
        [
            _item(
                id="C0",
                weight=0.5,
                evidence=[{"turn": 1, "step": 1, "from": "assistant.tool_calls", "snippet": "reserve_hotel"}],
            ),
            _item(id="C1", weight=0.5, evidence=[], dependence=["C1"]),
            _item(id="C2", weight=0.0, evidence=[{"turn": 0, "step": 40, "from": "tool.content", "snippet": "x"}]),
        ],
    )
    assert (
        "turn 0, item C0, field evidence[0]: points at turn 1, a later turn; evidence must come from turn ≤ 0"
        in problems
    )
    assert "turn 0, item C1, field evidence: give at least one evidence pointer" in problems
    assert "turn 0, item C1, field dependence: an item cannot depend on itself" in problems
    assert any(p.startswith("turn 0, item C2, field evidence: evidence[0].step=40") for p in problems)


def test_weights_near_one_are_rescaled_and_far_ones_reported() -> None:
    dialogue = multi_call_dialogue()
    near = [_item(id="C0", weight=0.33), _item(id="C1", weight=0.33), _item(id="C2", weight=0.33)]
    assert _problems(dialogue, near) == []
    far = [_item(id="C0", weight=0.3), _item(id="C1", weight=0.3)]
    assert any("weights sum to 0.6" in p for p in _problems(dialogue, far))
    assert _problems(dialogue, far, weight_slack=0.5) == []


def test_checks_must_name_real_tools_parameters_and_fitting_kinds() -> None:
    dialogue = multi_call_dialogue()

    def with_check(check: dict[str, Any], focus: str = "assistant.tool_calls") -> list[str]:
        return _problems(dialogue, [_item(check=check, focus_on=focus)])

    assert with_check({"tool": "search_flights", "arguments": {"origin": {"kind": "exact", "value": "Oslo"}}}) == []
    assert any("'fly' is not a tool of this dialogue" in p for p in with_check({"tool": "fly", "arguments": {}}))
    bad_arg = with_check({"tool": "search_flights", "arguments": {"from": {"kind": "exact", "value": "Oslo"}}})
    assert any("search_flights has no parameter 'from'" in p for p in bad_arg)
    numeric = with_check({"tool": "search_flights", "arguments": {"date": {"kind": "numeric", "value": 3}}})
    assert any("parameter 'date' is string, not a number" in p for p in numeric)
    focus = with_check({"tool": "search_flights", "arguments": {}}, focus="tool.content")
    assert any("a check is allowed only on items with focus_on assistant.tool_calls" in p for p in focus)
    assert _problems(dialogue, [_item(check={"tool": "fly", "arguments": {}})], check_tool_checks=False) == []


def test_every_turn_needs_items_unless_disabled() -> None:
    dialogue = multi_call_dialogue()
    checklist = [TurnChecklist.model_validate([_item()]), TurnChecklist()]
    assert "turn 1: has no items; write at least one check for every turn" in checklist_problems(
        dialogue, checklist, ValidationConfig()
    )
    assert checklist_problems(dialogue, checklist, ValidationConfig(require_items=False)) == []
    assert "the checklist has 1 turns but the dialogue has 2" in checklist_problems(
        dialogue, checklist[:1], ValidationConfig()
    )
