"""Format adapters: lossless round trips and clear errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cm2.data.adapters import (
    content_id,
    convert_record,
    detect_format,
    from_cm2,
    from_nemotron,
    from_openai,
    to_cm2,
    to_dialogue,
    to_nemotron,
    to_openai,
)
from cm2.data.errors import RecordError
from cm2.schema import ToolSpec


def test_cm2_sample_round_trips(sample_records: list[dict[str, Any]]) -> None:
    record = sample_records[0]
    assert detect_format(record) == "cm2"
    dialogue = from_cm2(record)
    assert dialogue.uuid == record["uuid"]
    turns = record["checklists"][0]
    assert len(dialogue.checklists) == 1 and len(dialogue.checklists[0]) == len(turns) == 3
    assert dialogue.checklists[0][0].ids == [item["id"] for item in turns[0]]
    assert to_cm2(dialogue) == record
    assert json.dumps(to_cm2(to_dialogue(record))) == json.dumps(record)


def test_nemotron_round_trip_keeps_metadata_string(nemotron_records: list[dict[str, Any]]) -> None:
    for record in nemotron_records:
        assert detect_format(record) == "nemotron"
        dialogue = from_nemotron(record)
        back = to_nemotron(dialogue)
        assert back == record
        assert back["metadata"] == record["metadata"]  # the very same string, not only the same JSON


def test_nemotron_tools_and_arguments_are_parsed(nemotron_records: list[dict[str, Any]]) -> None:
    first, second = (from_nemotron(record) for record in nemotron_records)
    assert first.tool_names() == ["get_weather"]
    assert second.tool_names() == ["book_table", "list_restaurants"]
    assert first.steps()[0].calls[0].function.parsed_arguments() == {"city": "Oslo", "unit": "C"}
    assert second.steps()[0].calls[0].function.parsed_arguments() == {"area": "Lyon"}
    assert first.model_extra is not None and first.model_extra["license"] == "CC BY 4.0"


def test_nemotron_changed_tools_rewrite_metadata_keeping_other_keys(nemotron_records: list[dict[str, Any]]) -> None:
    dialogue = from_nemotron(nemotron_records[1])
    extra = ToolSpec.model_validate({"type": "function", "function": {"name": "cancel", "parameters": {}}})
    changed = dialogue.model_copy(update={"tools": [*dialogue.tools, extra]})
    metadata = json.loads(to_nemotron(changed)["metadata"])
    assert [tool["name"] for tool in metadata["tools"]] == ["book_table", "list_restaurants", "cancel"]
    assert "function" not in metadata["tools"][2]  # keeps the file's bare shape
    assert metadata["difficulty"] == 3 and metadata["notes"] is None


def test_nemotron_through_cm2_and_back(nemotron_records: list[dict[str, Any]]) -> None:
    for record in nemotron_records:
        as_cm2 = convert_record(record, to="cm2")
        assert detect_format(as_cm2) == "cm2"
        assert as_cm2["tools"] == from_nemotron(record).dump()["tools"]
        assert convert_record(as_cm2, to="nemotron") == record


def test_openai_record_gets_a_stable_content_id() -> None:
    record = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        "tools": [],
    }
    assert detect_format(record) == "openai"
    dialogue = from_openai(record)
    assert dialogue.uuid == content_id(record) == from_openai(json.loads(json.dumps(record))).uuid
    other = {**record, "messages": [{"role": "user", "content": "bye"}]}
    assert from_openai(other).uuid != dialogue.uuid
    assert to_openai(dialogue) == record
    # once the content changes, the id is kept so the dialogue stays identifiable
    edited = dialogue.model_copy(update={"messages": dialogue.messages[:1]})
    assert to_openai(edited)["uuid"] == dialogue.uuid
    # written as cm2, the generated id is kept
    assert to_cm2(dialogue)["uuid"] == dialogue.uuid


def test_id_spelled_id_round_trips() -> None:
    record = {"id": 42, "messages": [{"role": "user", "content": "x"}], "tools": []}
    dialogue = to_dialogue(record)
    assert dialogue.uuid == "42"
    assert to_cm2(dialogue) == record
    assert to_openai(dialogue) == record


def test_validation_error_names_dialogue_and_field() -> None:
    record = {
        "uuid": "d-7",
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 3}}]},
            {"role": "bot", "content": "?"},
        ],
    }
    with pytest.raises(RecordError) as caught:
        to_dialogue(record, location="in.jsonl:9")
    error = caught.value
    assert error.location == "in.jsonl:9"
    assert "dialogue 'd-7'" in error.message
    assert "messages[1].tool_calls[0].function.arguments" in error.message
    assert "messages[2].role" in error.message and "'bot'" in error.message
    with pytest.raises(RecordError) as caught:
        to_dialogue(record)
    assert caught.value.location == "dialogue d-7"


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ("{not json", "metadata: invalid JSON"),
        ("[1, 2]", "metadata: a JSON list, not an object"),
        ('{"tools": {"name": "f"}}', "metadata.tools: expected a list"),
    ],
)
def test_bad_nemotron_metadata(metadata: str, fragment: str) -> None:
    record = {"uuid": "n-9", "messages": [{"role": "user", "content": "x"}], "metadata": metadata}
    with pytest.raises(RecordError, match="n-9") as caught:
        from_nemotron(record, location="f.parquet#row 3")
    assert fragment in caught.value.message
    assert caught.value.location == "f.parquet#row 3"


def test_not_a_dialogue() -> None:
    with pytest.raises(RecordError, match="no `messages` list"):
        detect_format({"uuid": "x", "text": "hello"})
    with pytest.raises(RecordError, match="expected a JSON object"):
        to_dialogue([1, 2])  # type: ignore[arg-type]


def test_forced_source_format(nemotron_records: list[dict[str, Any]]) -> None:
    # read as cm2, the Nemotron tools stay hidden in the metadata string
    dialogue = to_dialogue(nemotron_records[0], source="cm2")
    assert dialogue.tools == []
    assert to_cm2(dialogue) == nemotron_records[0]
