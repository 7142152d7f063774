import copy
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from cm2.schema import ChecklistItem, Dialogue, Message, Trajectory, TurnChecklist, split_think

SAMPLE = Path(__file__).resolve().parents[2] / "cm2" / "data" / "samples" / "cm2_reference_sample.json"


def _sample() -> dict:
    path = SAMPLE if SAMPLE.exists() else Path("/work/shared/data/cm2_reference_sample.json")
    return json.loads(path.read_text())[0]


def test_released_sample_round_trips_losslessly() -> None:
    record = _sample()
    dialogue = Dialogue.model_validate(copy.deepcopy(record))
    assert dialogue.dump() == record


def test_turn_and_step_views_follow_released_step_numbering() -> None:
    dialogue = Dialogue.model_validate(_sample())
    turns = dialogue.turns()
    assert [len(t.steps) for t in turns] == [2, 1, 1]
    first = turns[0]
    assert first.user.role == "user"
    # released evidence: the call is step 1, the tool answer step 2, the reply step 3
    assert [s.message_index for s in first.steps] == [1, 3]
    assert len(first.steps[0].tool_messages) == 1
    assert first.steps[-1].is_final


def test_a_trajectory_has_the_turn_view_of_a_dialogue_with_the_same_messages() -> None:
    dialogue = Dialogue.model_validate(_sample())
    trajectory = Trajectory(dialogue_uuid=dialogue.uuid, messages=dialogue.messages)
    assert trajectory.turns() == dialogue.turns() and len(trajectory.turns()) == 3
    assert [t.steps for t in trajectory.turns()] == [t.steps for t in dialogue.turns()]
    assert trajectory.steps_per_turn() == [len(t.steps) for t in dialogue.turns()] == [2, 1, 1]


def test_steps_per_turn_counts_assistant_messages_after_each_user_message() -> None:
    raw: list[dict] = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "x", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "content": "{}"},
        {"role": "assistant", "content": "y"},
        {"role": "user", "content": "b"},
    ]
    trajectory = Trajectory(dialogue_uuid="d", messages=[Message.model_validate(m) for m in raw])
    assert trajectory.steps_per_turn() == [2, 0]  # the system message is no turn; a last user message is one
    assert trajectory.turns() == Dialogue(uuid="d", messages=trajectory.messages).turns()


def test_arguments_accept_string_or_object() -> None:
    as_string = Message.model_validate(
        {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": '{"x": 1}'}}]}
    )
    as_object = Message.model_validate(
        {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": {"x": 1}}}]}
    )
    assert as_string.calls[0].function.parsed_arguments() == as_object.calls[0].function.parsed_arguments()
    assert as_string.dump()["tool_calls"][0]["function"]["arguments"] == '{"x": 1}'


@pytest.mark.parametrize("arguments", ["[1, 2]", "{not json"])
def test_bad_arguments_raise_with_tool_name(arguments: str) -> None:
    message = Message.model_validate(
        {"role": "assistant", "tool_calls": [{"function": {"name": "lookup", "arguments": arguments}}]}
    )
    with pytest.raises(ValueError, match="lookup"):
        message.calls[0].function.parsed_arguments()


def test_split_think() -> None:
    parts = split_think("<think>\nplan\n</think>\n\nHello")
    assert (parts.thinking, parts.visible) == ("plan", "Hello")
    assert split_think("no tags").thinking is None


def test_paper_names_load_and_dump_as_released_names() -> None:
    item = ChecklistItem.model_validate(
        {"id": "C1", "focus_on": "tool.content", "question": "q?", "strictness": True, "dependency": ["C0"]}
    )
    assert item.required_for_next_turn is True
    assert item.dependence == ["C0"]
    assert "required_for_next_turn" in item.dump() and "strictness" not in item.dump()


def test_per_turn_map_form() -> None:
    turn = TurnChecklist.model_validate(
        {
            "items": [
                {"id": "C1", "focus_on": "tool.content", "question": "a?"},
                {"id": "C2", "focus_on": "assistant.tool_calls", "question": "b?"},
            ],
            "dependence": {"C2": ["C1"]},
            "weight": {"C1": 0.4, "C2": 0.6},
        }
    )
    assert turn.by_id()["C2"].dependence == ["C1"]
    assert [i.weight for i in turn.items] == [0.4, 0.6]


def test_map_naming_unknown_item_is_an_error() -> None:
    with pytest.raises(ValidationError, match="C9"):
        TurnChecklist.model_validate(
            {"items": [{"id": "C1", "focus_on": "tool.content", "question": "a?"}], "weight": {"C9": 1.0}}
        )


def test_focus_on_must_be_one_of_four() -> None:
    with pytest.raises(ValidationError, match="focus_on"):
        ChecklistItem.model_validate({"id": "C1", "focus_on": "assistant.mood", "question": "q?"})
