"""Deterministic labeling from the reference tool calls, and the value-flow dependencies between calls."""

from __future__ import annotations

import json

import pytest
from annotate_builders import multi_call_dialogue, tool

from cm2.annotate.config import ReferenceLabelConfig, TurnCheckConfig, ValidationConfig
from cm2.annotate.reference import label_from_reference
from cm2.annotate.turn_items import with_turn_items
from cm2.annotate.validate import checklist_problems
from cm2.annotate.valueflow import call_sites, value_flow
from cm2.judge.checks import call_meets
from cm2.schema import ChecklistItem, Dialogue, ToolCall, ToolCallCheck, TurnCheck, TurnChecklist, validate_dialogue
from cm2.testing import sample_dialogue
from cm2.testing.messages import assistant, call, result


def _items(dialogue: Dialogue, turn: int) -> dict[str, ChecklistItem]:
    items = dialogue.checklists[0][turn].items
    return {item.check.tool if isinstance(item.check, ToolCallCheck) else "reply": item for item in items}


def test_sample_gets_one_checked_item_per_call_and_a_reply_item_per_turn() -> None:
    source = sample_dialogue()
    labeled = label_from_reference(source)
    checklist = labeled.checklists[0]
    assert len(checklist) == len(source.turns()) == 3
    first = checklist[0].items
    assert [i.focus_on for i in first] == ["assistant.tool_calls", "assistant.content.user_visible_reply"]
    check = first[0].check
    assert isinstance(check, ToolCallCheck) and check.tool == "get_the_last_games_of_a_football_team"
    assert check.arguments["teamid"].kind == "exact" and check.arguments["teamid"].value == "Washington Huskies"
    assert first[0].evidence[0].step == 1 and first[0].required_for_next_turn
    assert first[1].dependence == ["C0"] and first[1].evidence[0].step == 3 and first[1].check is None
    assert [len(t.items) for t in checklist[1:]] == [1, 1]  # turns without calls: the reply item only
    assert checklist_problems(labeled, checklist, ValidationConfig()) == []
    validate_dialogue(labeled)


def test_output_is_the_input_record_plus_checklists() -> None:
    source = sample_dialogue()
    before = source.dump()
    after = label_from_reference(source).dump()
    assert {k: v for k, v in after.items() if k != "checklists"} == {
        k: v for k, v in before.items() if k != "checklists"
    }
    assert isinstance(after["checklists"][0][0], list)  # released nesting: checklists → turns → items
    assert after["checklists"][0][0][0]["evidence"][0]["from"] == "assistant.tool_calls"


def test_value_flow_between_calls_of_one_turn() -> None:
    labeled = label_from_reference(multi_call_dialogue())
    turn0 = _items(labeled, 0)
    ids = {name: item.id for name, item in turn0.items()}
    assert turn0["search_flights"].dependence == []
    assert turn0["get_weather"].dependence == []  # same step as the search: issued in parallel
    assert turn0["book_flight"].dependence == [ids["search_flights"]]  # flight id FL-208 came from the search
    # booking_ref from the booking; the amount 412.5 first appeared in the search results
    assert turn0["pay"].dependence == sorted([ids["search_flights"], ids["book_flight"]])
    # "Paris" is echoed by tool results but the user said it; 3 is too short to count as provenance
    assert turn0["find_hotels"].dependence == []
    assert set(turn0["reply"].dependence) == {i.id for n, i in turn0.items() if n != "reply"}
    turn1 = _items(labeled, 1)
    assert turn1["reserve_hotel"].dependence == []  # hotel id 17 came from an earlier turn: known context
    assert turn1["add_extra"].dependence == [turn1["reserve_hotel"].id]  # nested value: items[0].sku and code


def test_value_flow_compares_stringified_scalars_on_word_boundaries() -> None:
    messages = [
        {"role": "user", "content": "Find a hotel in Rome and reserve it for 2017 guests."},
        assistant("Search.", call("h1", "find_hotels", city="Rome")),
        result("h1", {"results": [{"hotel_id": 17, "note": "opened in 2017"}], "page": "p-12"}),
        assistant("Reserve.", call("h2", "reserve_hotel", hotel_id="17", guests=2017, page="p-1")),
        result("h2", {"ok": True}),
        assistant("Done.", reply="Reserved."),
    ]
    dialogue = Dialogue.model_validate(
        {"uuid": "s", "messages": messages, "tools": [tool("find_hotels", city="string")]}
    )
    turn = dialogue.turns()[0]
    # "17" (string) matches the number 17; 2017 is known from the user; "p-1" is no word of "p-12"
    assert value_flow(turn, []) == {1: [0]}
    only_page = Dialogue.model_validate(
        {
            **dialogue.dump(),
            "messages": [*messages[:3], assistant("Reserve.", call("h2", "reserve_hotel", page="p-1")), *messages[4:]],
        }
    )
    assert value_flow(only_page.turns()[0], []) == {}


def test_call_sites_pair_results_by_id_else_by_position() -> None:
    dialogue = sample_dialogue()  # its tool message has no tool_call_id
    site = call_sites(dialogue.turns()[0])[0]
    assert site.response is not None and "Invalid tool call" in (site.response.content or "")
    trip = multi_call_dialogue()
    sites = call_sites(trip.turns()[0])
    weather = next(s for s in sites if s.call.name == "get_weather")
    assert weather.response is not None and "sunny" in (weather.response.content or "")


def test_options_shape_constraints_weights_and_reply_item() -> None:
    long_text = "a detailed note about the booking that is longer than the configured threshold for text"
    messages = [
        {"role": "user", "content": "Book it."},
        assistant("Book.", call("x", "book", note=long_text, price=10.0, rooms=2, vip=True)),
        result("x", {"ok": True}),
        assistant("Done.", reply="Booked."),
    ]
    dialogue = Dialogue.model_validate({"uuid": "o", "messages": messages})
    opts = ReferenceLabelConfig(long_text="substring", long_text_chars=40, numeric_tolerance=0.5, reply_weight=0.2)
    items = label_from_reference(dialogue, opts).checklists[0][0].items
    args = items[0].check.arguments if isinstance(items[0].check, ToolCallCheck) else {}
    assert args["note"].kind == "substring" and args["note"].value == long_text
    assert args["price"].kind == "numeric" and args["price"].tolerance == 0.5
    assert args["vip"].kind == "exact" and args["vip"].value is True
    assert [round(i.weight, 6) for i in items] == [0.8, 0.2]
    omitted = label_from_reference(dialogue, ReferenceLabelConfig(long_text="omit", long_text_chars=40))
    first = omitted.checklists[0][0].items[0]
    assert isinstance(first.check, ToolCallCheck) and "note" not in first.check.arguments
    no_reply = label_from_reference(dialogue, ReferenceLabelConfig(final_reply_item=False, call_required=False))
    assert [i.focus_on for i in no_reply.checklists[0][0].items] == ["assistant.tool_calls"]
    assert no_reply.checklists[0][0].items[0].weight == 1.0
    assert not no_reply.checklists[0][0].items[0].required_for_next_turn
    assert json.dumps(no_reply.dump())  # serialisable


def test_extra_arguments_can_fail_a_call_item() -> None:
    dialogue = Dialogue.model_validate(
        {
            "uuid": "x",
            "messages": [
                {"role": "user", "content": "Post it."},
                assistant("Post.", call("p", "post", content="hi")),
                result("p", {"ok": True}),
                assistant("Done.", reply="Posted."),
            ],
        }
    )
    played = ToolCall.model_validate(call("q", "post", content="hi", mentions=["@someone"]))
    lenient, strict = (
        label_from_reference(dialogue, ReferenceLabelConfig(extra_arguments=allow)).checklists[0][0].items[0].check
        for allow in (True, False)
    )
    assert isinstance(lenient, ToolCallCheck) and isinstance(strict, ToolCallCheck)
    assert call_meets(lenient, played) and not call_meets(strict, played)
    assert "allow_extra_arguments" not in label_from_reference(dialogue).dump()["checklists"][0][0][0]["check"]


def _kinds(turn: TurnChecklist) -> list[str]:
    return [
        item.check.kind if isinstance(item.check, TurnCheck) else "call" if item.check else "reply"
        for item in turn.items
    ]


def test_turn_end_items_follow_the_options_and_weights_still_sum_to_one() -> None:
    source = multi_call_dialogue()
    # auto: off for a dialogue whose environment does not report its state (the simulator's)
    assert _kinds(label_from_reference(source).checklists[0][0]) == ["call"] * 5 + ["reply"]
    on = ReferenceLabelConfig(final_reply_item=False, turn_checks=TurnCheckConfig(mode="on", call_budget_slack=1))
    turn = label_from_reference(source, on).checklists[0][0]
    # no state item: nothing reports it
    assert _kinds(turn) == ["call"] * 5 + ["ends_with_reply", "call_budget", "reference_calls_only"]
    by_kind = {kind: item for kind, item in zip(_kinds(turn), turn.items, strict=True)}
    calls = [item for item in turn.items if item.check is not None and not isinstance(item.check, TurnCheck)]
    ends, budget, only = by_kind["ends_with_reply"], by_kind["call_budget"], by_kind["reference_calls_only"]
    assert ends.dependence == budget.dependence == only.dependence == [calls[0].id]
    assert isinstance(budget.check, TurnCheck) and budget.check.max_calls == 6
    assert isinstance(only.check, TurnCheck) and only.check.calls == [item.check for item in calls]
    assert sum(i.weight for i in turn.items) == pytest.approx(1.0) and len({i.weight for i in turn.items}) == 1
    # a dialogue that declares a state-reporting environment gets the state item under auto
    stateful = Dialogue.model_validate({**source.dump(), "environment_reports_state": True})
    weighted = ReferenceLabelConfig.model_validate(
        {"final_reply_item": True, "turn_checks": {"call_budget_slack": None, "weight": 0.1}}
    )
    turn = label_from_reference(stateful, weighted).checklists[0][0]
    # no budget item: slack None
    assert _kinds(turn)[-4:] == ["reply", "ends_with_reply", "environment_state", "reference_calls_only"]
    weights = {kind: item.weight for kind, item in zip(_kinds(turn), turn.items, strict=True)}
    assert weights["ends_with_reply"] == weights["environment_state"] == 0.1
    assert sum(i.weight for i in turn.items) == pytest.approx(1.0)
    assert (
        checklist_problems(stateful, label_from_reference(stateful, weighted).checklists[0], ValidationConfig()) == []
    )
    # the items survive a dump/load round trip
    again = Dialogue.model_validate(label_from_reference(stateful, weighted).dump())
    assert _kinds(again.checklists[0][0]) == _kinds(turn)


def test_a_turn_without_calls_gets_undependent_turn_end_items() -> None:
    on = ReferenceLabelConfig.model_validate({"turn_checks": "on"})  # a string sets the mode alone
    turn = label_from_reference(sample_dialogue(), on).checklists[0][1]
    # the LLM reply item, then the checks; a turn without calls allows none
    assert _kinds(turn) == ["reply", "ends_with_reply", "call_budget", "reference_calls_only"]
    assert all(item.dependence == [] for item in turn.items)
    assert turn.items[2].check is not None and getattr(turn.items[2].check, "max_calls", None) == 0
    assert getattr(turn.items[3].check, "calls", None) == []


def test_a_call_budget_needs_its_size() -> None:
    with pytest.raises(ValueError, match="max_calls"):
        TurnCheck(kind="call_budget")
    with pytest.raises(ValueError, match="max_calls"):
        TurnCheck(kind="ends_with_reply", max_calls=2)
    with pytest.raises(ValueError, match="calls is set"):
        TurnCheck(kind="reference_calls_only")


def test_llm_checklists_get_the_turn_end_items_with_rescaled_weights() -> None:
    source = Dialogue.model_validate({**multi_call_dialogue().dump(), "environment_reports_state": True})
    written = label_from_reference(source, ReferenceLabelConfig(turn_checks=TurnCheckConfig(mode="off")))
    checklist = written.checklists[0]
    before = [item.weight for item in checklist[0].items]
    extended = with_turn_items(source, checklist, TurnCheckConfig())
    turn = extended[0]
    added = ["ends_with_reply", "call_budget", "environment_state", "reference_calls_only"]
    assert [item.id for item in turn.items[-4:]] == added  # every call item has a check: the last one too
    assert sum(item.weight for item in turn.items) == pytest.approx(1.0)
    n = len(before)
    assert [item.weight for item in turn.items[:n]] == pytest.approx([w * n / (n + 4) for w in before])
    calls = [item.id for item in checklist[0].items if item.focus_on == "assistant.tool_calls"]
    assert all(item.dependence == calls[:1] for item in turn.items[-4:])
    assert checklist_problems(source, extended, ValidationConfig()) == []
    assert with_turn_items(multi_call_dialogue(), checklist, TurnCheckConfig()) == checklist  # auto, no state: off


def test_llm_call_items_decided_by_the_llm_get_no_reference_calls_item() -> None:
    source = Dialogue.model_validate({**multi_call_dialogue().dump(), "environment_reports_state": True})
    written = label_from_reference(source, ReferenceLabelConfig(turn_checks=TurnCheckConfig(mode="off")))
    judged = [
        TurnChecklist(items=[item.model_copy(update={"check": None}) for item in turn.items])
        for turn in written.checklists[0]
    ]
    extended = with_turn_items(source, judged, TurnCheckConfig())
    assert [item.id for item in extended[0].items[-3:]] == ["ends_with_reply", "call_budget", "environment_state"]
