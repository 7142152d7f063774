"""Small dialogues with checklists for tests and benchmarks, and the pieces they are built from."""

from __future__ import annotations

import json
from typing import Any

from cm2.data.samples import sample_path
from cm2.schema import Dialogue
from cm2.testing.messages import call

ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth"]


def sample_dialogue() -> Dialogue:
    """The shipped released-format CM2 sample (one dialogue, three turns, one tool, a real checklist)."""
    return Dialogue.model_validate(json.loads(sample_path().read_text(encoding="utf-8"))[0])


def tool_spec(
    name: str, properties: dict[str, Any], required: list[str] | None = None, description: str | None = None
) -> dict[str, Any]:
    """An OpenAI function-tool record whose parameters are an object of `properties` (no description key
    unless one is given)."""
    parameters = {"type": "object", "properties": properties, "required": required or []}
    described = {"description": description} if description is not None else {}
    return {"type": "function", "function": {"name": name, **described, "parameters": parameters}}


def weather_tool() -> dict[str, Any]:
    """The get_weather tool record: a city, and a unit that is C or F."""
    unit = {"type": "string", "enum": ["C", "F"]}
    return tool_spec("get_weather", {"city": {"type": "string"}, "unit": unit}, ["city"], "Current weather for a city.")


def reply_item(item_id: str, weight: float = 1.0, **extra: Any) -> dict[str, Any]:
    """A checklist item on the user-visible reply."""
    return {
        "focus_on": "assistant.content.user_visible_reply",
        "question": "replied?",
        "id": item_id,
        "weight": weight,
        **extra,
    }


def call_item(item_id: str, weight: float = 1.0, **extra: Any) -> dict[str, Any]:
    """A checklist item on the tool calls."""
    return {"focus_on": "assistant.tool_calls", "question": "called?", "id": item_id, "weight": weight, **extra}


def lookup_dialogue(checklist: list[list[dict[str, Any]]], uuid: str = "d1") -> Dialogue:
    """One turn per checklist turn: the user says "first", "second", …; the reference assistant thinks "a",
    "b", … and answers "ok"; one tool, `lookup`, that takes any object."""
    messages: list[dict[str, Any]] = []
    for turn in range(len(checklist)):
        messages.append({"role": "user", "content": ORDINALS[turn]})
        messages.append({"role": "assistant", "content": f"<think>{chr(ord('a') + turn)}</think>\n\nok"})
    return Dialogue.model_validate(
        {
            "uuid": uuid,
            "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
            "messages": messages,
            "checklists": [checklist],
        }
    )


LOOKUP_CALL = '<think>look</think>\n<tool_call>{"name": "lookup", "arguments": {"q": 1}}</tool_call>'
"""A policy output that calls `lookup` well."""


def call_dialogue(turns: int = 2, uuid: str = "d1") -> Dialogue:
    """A `lookup_dialogue` whose every turn has one item, C0: call a tool; required to go on in every turn
    but the last."""
    checklist = [[call_item("C0", **({"required_for_next_turn": True} if t < turns - 1 else {}))] for t in range(turns)]
    return lookup_dialogue(checklist, uuid)


def two_turn_dialogue(uuid: str = "d1") -> Dialogue:
    """Two turns with reply items; turn 0's C1 depends on C0."""
    first = [reply_item("C0", 0.5), reply_item("C1", 0.5, dependence=["C0"])]
    return lookup_dialogue([first, [reply_item("C0", 1.0)]], uuid)


WEATHER = {"Paris": ("sunny", "Sunny."), "Rome": ("rain", "Rain.")}
"""City → (the recorded forecast, the reference reply)."""


def weather_dialogue(
    uuid: str = "w2",
    cities: tuple[str, ...] = ("Paris", "Rome"),
    weights: tuple[float, ...] = (0.5, 0.6),
    *,
    required: bool = True,
    system: str | None = "You are a weather assistant.",
) -> Dialogue:
    """One turn a city: call get_weather, then reply. Checklist items: C0 (the call, checked in code, with
    weight `weights[turn]`), C1 (the reply, asked of the judge, depends on C0, the rest of the weight)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    items = []
    for turn, (city, weight) in enumerate(zip(cities, weights, strict=True)):
        call_id = f"c{turn + 1}"
        forecast, reply = WEATHER[city]
        messages += [
            {"role": "user", "content": f"Weather in {city}?" if turn == 0 else f"And in {city}?"},
            {
                "role": "assistant",
                "content": "<think>look it up</think>",
                "tool_calls": [call(call_id, "get_weather", city=city)],
            },
            {"role": "tool", "tool_call_id": call_id, "content": json.dumps({"forecast": forecast})},
            {"role": "assistant", "content": f"<think>done</think>\n\n{reply}"},
        ]
        check = {"tool": "get_weather", "arguments": {"city": {"kind": "exact", "value": city}}}
        question = "Did it tell the user the forecast?"
        items.append(
            [
                call_item(
                    "C0",
                    weight,
                    question=f"Did it call get_weather for {city}?",
                    required_for_next_turn=required,
                    check=check,
                ),
                reply_item("C1", round(1 - weight, 6), question=question, dependence=["C0"]),
            ]
        )
    spec = tool_spec("get_weather", {"city": {"type": "string"}}, ["city"])
    return Dialogue.model_validate({"uuid": uuid, "tools": [spec], "messages": messages, "checklists": [items]})
