"""The synthetic dialogue generator: deterministic, valid by default, each defect caught by its rule."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from cm2.data.adapters import detect_format, to_dialogue
from cm2.data.filters import FilterConfig, check_record
from cm2.data.synthetic import DEFECTS, SyntheticSpec, synthetic_dialogue, synthetic_dialogues


def test_same_seed_and_index_give_the_same_record() -> None:
    assert synthetic_dialogue(7, seed=3) == synthetic_dialogue(7, seed=3)
    assert synthetic_dialogue(7, seed=3) != synthetic_dialogue(8, seed=3)
    assert synthetic_dialogue(7, seed=3) != synthetic_dialogue(7, seed=4)
    first = [d.record for d in synthetic_dialogues(20, seed=5, defect_rate=0.5)]
    again = [d.record for d in synthetic_dialogues(20, seed=5, defect_rate=0.5)]
    assert json.dumps(first) == json.dumps(again)


def test_stream_records_match_single_records() -> None:
    for item in synthetic_dialogues(30, seed=2, defect_rate=0.5):
        assert item.record == synthetic_dialogue(item.index, seed=2, defect=item.defect)


def test_valid_dialogues_pass_every_rule_and_load_as_dialogues() -> None:
    calls = 0
    for item in synthetic_dialogues(200, seed=11):
        assert item.defect is None
        assert check_record(item.record) == [], item.index
        dialogue = to_dialogue(item.record)
        assert dialogue.turns() and dialogue.num_tool_calls >= 1
        calls += dialogue.num_tool_calls
    assert calls > 200  # several calls per dialogue on average, some of them parallel


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_defect_is_caught_by_its_rule(defect: str) -> None:
    rule = DEFECTS[defect]
    for index in range(8):
        record = synthetic_dialogue(index, seed=1, defect=defect)
        assert rule in {v.rule for v in check_record(record)}, (defect, index)
        assert check_record(record, FilterConfig(rules=[rule])), (defect, index)


def test_defect_rate_and_choice() -> None:
    items = list(synthetic_dialogues(1000, seed=0, defect_rate=0.3, defects=["empty_think", "missing_tool_response"]))
    injected = [d.defect for d in items if d.defect]
    assert 230 < len(injected) < 370
    assert set(injected) == {"empty_think", "missing_tool_response"}


def test_nemotron_format_keeps_tools_in_metadata() -> None:
    record = synthetic_dialogue(4, spec=SyntheticSpec(fmt="nemotron"))
    assert "tools" not in record and json.loads(record["metadata"])["tools"]
    assert detect_format(record) == "nemotron"
    assert check_record(record) == []
    broken = synthetic_dialogue(4, defect="call_unknown_tool", spec=SyntheticSpec(fmt="nemotron"))
    assert "tool_schema" in {v.rule for v in check_record(broken)}


def test_without_think_blocks() -> None:
    spec = SyntheticSpec(think=False)
    record = synthetic_dialogue(0, spec=spec)
    assert all("<think>" not in (m.get("content") or "") for m in record["messages"])
    assert check_record(record, FilterConfig(require_think=False)) == []
    assert {v.rule for v in check_record(record)} == {"think_tags"}
    with pytest.raises(ValueError, match="needs think=True"):
        synthetic_dialogue(0, defect="empty_think", spec=spec)
    stream = synthetic_dialogues(200, defect_rate=1.0, spec=spec)
    assert all(DEFECTS[d.defect] != "think_tags" or d.defect == "empty_user_message" for d in stream if d.defect)


def test_tool_variants_give_distinct_schemas() -> None:
    spec = SyntheticSpec(tool_variants=50)
    schemas = {
        json.dumps(tool["function"]["parameters"], sort_keys=True)
        for index in range(40)
        for tool in synthetic_dialogue(index, spec=spec)["tools"]
    }
    assert len(schemas) > 60
    assert all(check_record(synthetic_dialogue(index, spec=spec)) == [] for index in range(40))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown defect"):
        synthetic_dialogue(0, defect="nope")
    with pytest.raises(ValidationError):
        SyntheticSpec(max_turns=0)
