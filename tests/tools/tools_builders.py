"""Builders of the tool-environment tests: a small reference dialogue with recorded tool I/O."""

from __future__ import annotations

import json
from typing import Any

from cm2.schema import Dialogue, FunctionCall, ToolCall
from cm2.testing import tool_spec, weather_tool


def tool(name: str, properties: dict[str, Any], required: list[str], description: str = "") -> dict[str, Any]:
    return tool_spec(name, properties, required, description)


def call(name: str, arguments: str | dict[str, Any], call_id: str | None = None) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_call(name: str, arguments: str | dict[str, Any]) -> ToolCall:
    return ToolCall(function=FunctionCall(name=name, arguments=arguments))


WEATHER_OSLO_1 = json.dumps({"city": "Oslo", "temp_c": -3, "sky": "snow"})
WEATHER_OSLO_2 = json.dumps({"city": "Oslo", "temp_c": -1, "sky": "cloudy"})
RESTAURANTS = json.dumps([{"name": "Fjord", "id": "r-17"}, {"name": "Maaemo", "id": "r-2"}])
BOOKING = json.dumps({"booking_id": "B-881", "restaurant": "Fjord", "people": 2})


def weather_dialogue() -> Dialogue:
    """Two turns; get_weather(Oslo) is recorded twice with different answers; tool messages are paired by
    position in turn 0 and by tool_call_id (in reverse order) in turn 1."""
    tools = [
        weather_tool(),
        tool("list_restaurants", {"area": {"type": "string"}}, ["area"], "Restaurants of an area."),
        tool(
            "book_table",
            {"restaurant": {"type": "string"}, "people": {"type": "integer", "minimum": 1}},
            ["restaurant", "people"],
            "Book a table.",
        ),
    ]
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Weather in Oslo, and where can I eat?"},
        {
            "role": "assistant",
            "content": "<think>\nLook both up.\n</think>",
            "tool_calls": [
                call("get_weather", '{"city": "Oslo", "unit": "C"}'),
                call("list_restaurants", {"area": "Oslo"}),
            ],
        },
        {"role": "tool", "content": WEATHER_OSLO_1},
        {"role": "tool", "content": RESTAURANTS},
        {"role": "assistant", "content": "<think>\nAnswer.\n</think>\n\nIt is -3 °C; try Fjord or Maaemo."},
        {"role": "user", "content": "Book Fjord for two, and check the weather again."},
        {
            "role": "assistant",
            "content": "<think>\nBook and re-check.\n</think>",
            "tool_calls": [
                call("book_table", '{"restaurant": "Fjord", "people": 2.0}', "c1"),
                call("get_weather", '{"city": "Oslo", "unit": "C"}', "c2"),
            ],
        },
        {"role": "tool", "content": WEATHER_OSLO_2, "tool_call_id": "c2"},
        {"role": "tool", "content": BOOKING, "tool_call_id": "c1"},
        {"role": "assistant", "content": "<think>\nDone.\n</think>\n\nBooked (B-881). Now -1 °C."},
    ]
    return Dialogue.model_validate({"uuid": "weather-1", "messages": messages, "tools": tools})
