import copy
import json
from pathlib import Path

import pytest

from cm2.schema import ChecklistError, Dialogue, check_dialogue, find_cycle, validate_dialogue

SAMPLE = Path(__file__).resolve().parents[2] / "cm2" / "data" / "samples" / "cm2_reference_sample.json"


def _record() -> dict:
    path = SAMPLE if SAMPLE.exists() else Path("/work/shared/data/cm2_reference_sample.json")
    return copy.deepcopy(json.loads(path.read_text())[0])


def _first_turn(record: dict) -> list[dict]:
    return record["checklists"][0][0]


def test_sample_is_valid() -> None:
    assert check_dialogue(Dialogue.model_validate(_record())) == []


def test_weights_must_sum_to_one_and_can_be_renormalised() -> None:
    record = _record()
    _first_turn(record)[0]["weight"] = 0.5
    dialogue = Dialogue.model_validate(record)
    [issue] = check_dialogue(dialogue)
    assert issue.turn == 0 and issue.field == "weight"
    assert "fbf37337" in str(issue) and "1.25" in str(issue)
    assert check_dialogue(dialogue, renormalize=True) == []
    assert sum(i.weight for i in dialogue.checklists[0][0].items) == pytest.approx(1.0)


def test_missing_dependency_names_item_and_field() -> None:
    record = _record()
    _first_turn(record)[2]["dependence"] = ["C42"]
    with pytest.raises(ChecklistError) as info:
        validate_dialogue(Dialogue.model_validate(record))
    assert "turn 0, item C2, field dependence" in str(info.value)
    assert "C42" in str(info.value)


def test_dependency_cycle_is_reported() -> None:
    record = _record()
    _first_turn(record)[1]["dependence"] = ["C2"]  # C2 already depends on C1
    issues = check_dialogue(Dialogue.model_validate(record))
    assert any("cycle" in i.message for i in issues)


def test_find_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    cycle = find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]})
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}


def test_evidence_out_of_range() -> None:
    record = _record()
    _first_turn(record)[0]["evidence"][0]["step"] = 17
    _first_turn(record)[1]["evidence"][0]["turn"] = 9
    messages = [str(i) for i in check_dialogue(Dialogue.model_validate(record))]
    assert any("item C0" in m and "step=17" in m for m in messages)
    assert any("item C1" in m and "turn=9" in m for m in messages)


def test_self_dependency_and_duplicate_ids() -> None:
    record = _record()
    _first_turn(record)[0]["dependence"] = ["C0"]
    _first_turn(record)[5]["id"] = "C4"
    messages = [str(i) for i in check_dialogue(Dialogue.model_validate(record))]
    assert any("itself" in m for m in messages)
    assert any("duplicate item id" in m for m in messages)


def test_more_checklist_turns_than_dialogue_turns() -> None:
    record = _record()
    record["checklists"][0].append(copy.deepcopy(record["checklists"][0][-1]))
    messages = [str(i) for i in check_dialogue(Dialogue.model_validate(record))]
    assert any("has 4 turns but the dialogue has 3" in m for m in messages)
