"""Valid synthetic dialogues: a small tool library, schema-true arguments, JSON tool answers."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

Record = dict[str, Any]

_CORPUS = (
    "the user wants to check which tool fits this request and whether every required argument is known "
    "I should call the function with the values given then read the result carefully before answering "
    "maybe the date is missing so ask or infer it from context the response lists several options compare "
    "price rating distance and pick the best match summarise clearly mention caveats and next steps"
)
_WORDS = tuple(_CORPUS.split())
_NAMES = ("Lisbon", "Nairobi", "Osaka", "Denver", "Tallinn", "Lima", "Perth", "Bergen", "Quito", "Hanoi")
_CODES = ("LIS", "NBO", "KIX", "DEN", "TLL", "LIM", "PER", "BGO", "UIO", "HAN")


def _sentences(count: int, seed: int) -> tuple[str, ...]:
    rng = random.Random(seed)
    return tuple(" ".join(rng.choices(_WORDS, k=rng.randint(8, 18))).capitalize() + "." for _ in range(count))


_SENTENCES = _sentences(512, 20260212)


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> Record:
    parameters = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


_STR: Record = {"type": "string"}
_TOOL_LIBRARY: tuple[Record, ...] = (
    _fn(
        "get_weather",
        "Current weather for a city.",
        {"city": _STR, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        ["city"],
    ),
    _fn(
        "search_flights",
        "Flights between two airports on a date.",
        {
            "origin": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "destination": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "date": {"type": "string", "format": "date"},
            "passengers": {"type": "integer", "minimum": 1, "maximum": 9},
        },
        ["origin", "destination", "date"],
    ),
    _fn(
        "get_stock_price",
        "Latest price of a listed stock.",
        {"symbol": _STR, "exchange": {"type": "string", "enum": ["NYSE", "NASDAQ", "LSE"]}},
        ["symbol"],
    ),
    _fn(
        "convert_currency",
        "Convert an amount between currencies.",
        {"amount": {"type": "number", "minimum": 0}, "source": _STR, "target": _STR},
        ["amount", "source", "target"],
    ),
    _fn(
        "find_restaurants",
        "Restaurants near a place.",
        {
            "location": _STR,
            "cuisine": _STR,
            "max_results": {"type": "integer", "minimum": 1, "maximum": 20},
            "open_now": {"type": "boolean"},
        },
        ["location"],
    ),
    _fn(
        "create_event",
        "Add an event to the calendar.",
        {
            "title": _STR,
            "start": _STR,
            "duration_minutes": {"type": "integer", "minimum": 5},
            "attendees": {"type": "array", "items": _STR},
        },
        ["title", "start"],
    ),
    _fn(
        "get_team_games",
        "Recent games of a sports team.",
        {"teamid": _STR, "limit": {"type": "integer", "minimum": 1, "maximum": 10}},
        ["teamid"],
    ),
    _fn(
        "translate_text",
        "Translate text.",
        {"text": _STR, "target_language": {"type": "string", "enum": ["en", "fr", "de", "ja"]}},
        ["text", "target_language"],
    ),
    _fn(
        "lookup_order",
        "Status of a customer order.",
        {"order_id": _STR, "include_items": {"type": "boolean"}},
        ["order_id"],
    ),
    _fn(
        "book_hotel",
        "Book a hotel room.",
        {
            "city": _STR,
            "check_in": {"type": "string", "format": "date"},
            "nights": {"type": "integer", "minimum": 1},
            "guests": {
                "type": "object",
                "properties": {
                    "adults": {"type": "integer", "minimum": 1},
                    "children": {"type": "integer", "minimum": 0},
                },
                "required": ["adults"],
            },
        },
        ["city", "check_in", "nights"],
    ),
)
_TOOL_JSON = tuple(json.dumps(tool) for tool in _TOOL_LIBRARY)


def _value(rng: random.Random, name: str, schema: Record) -> Any:
    """A value that satisfies `schema` (the subset of JSON Schema the tool library uses)."""
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        return rng.randint(schema.get("minimum", 0), schema.get("maximum", 100))
    if kind == "number":
        return round(rng.uniform(schema.get("minimum", 0), 5000), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        return [_value(rng, name, schema["items"]) for _ in range(rng.randint(1, 3))]
    if kind == "object":
        return _object(rng, schema)
    if "pattern" in schema:
        return rng.choice(_CODES)
    if schema.get("format") == "date":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return rng.choice(_NAMES) if name in ("city", "location") else " ".join(rng.choices(_WORDS, k=2))


def _object(rng: random.Random, schema: Record) -> Record:
    required = set(schema.get("required", []))
    return {
        key: _value(rng, key, sub) for key, sub in schema["properties"].items() if key in required or rng.random() < 0.4
    }


def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(_SENTENCES, k=rng.randint(low, high)))


def _assistant(rng: random.Random, think: bool, reply: str) -> str:
    reasoning = f"<think>\n{_text(rng, 3, 12)}\n</think>" if think else ""
    return f"{reasoning}\n\n{reply}" if reasoning and reply else reasoning or reply


def _variant(tool: Record, variant: int) -> Record:
    """The tool with an extra optional parameter and reworded descriptions: a distinct schema shape."""
    properties = tool["function"]["parameters"]["properties"]
    for name, schema in properties.items():
        schema["description"] = f"{name.replace('_', ' ')} (variant {variant})"
    properties[f"option_{variant}"] = {"type": "string", "description": f"extra option {variant}"}
    return tool


def valid_dialogue(rng: random.Random, max_turns: int, think: bool, tool_variants: int) -> Record:
    """One valid dialogue drawn from `rng`."""
    tools = [json.loads(text) for text in rng.sample(_TOOL_JSON, rng.randint(2, 5))]
    if tool_variants > 1:
        tools = [_variant(tool, rng.randrange(tool_variants)) for tool in tools]
    messages: list[Record] = []
    if rng.random() < 0.5:
        messages.append({"role": "system", "content": "You are a helpful assistant with tools. " + _text(rng, 1, 2)})
    for turn in range(rng.randint(1, max_turns)):
        messages.append({"role": "user", "content": _text(rng, 1, 3)})
        for _ in range(rng.choice((1, 1, 2, 2, 3)) if turn == 0 else rng.choice((0, 1, 1, 2))):
            calls, answers = [], []
            for _ in range(rng.choice((1, 1, 1, 2))):
                function = rng.choice(tools)["function"]
                call_id = f"call_{rng.getrandbits(48):012x}"
                arguments = json.dumps(_object(rng, function["parameters"]))
                calls.append(
                    {"id": call_id, "type": "function", "function": {"name": function["name"], "arguments": arguments}}
                )
                result = {
                    "status": "ok",
                    "tool": function["name"],
                    "result": {"items": rng.randint(0, 9), "note": _text(rng, 1, 1)},
                }
                answers.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps(result)})
            messages.append({"role": "assistant", "content": _assistant(rng, think, ""), "tool_calls": calls})
            messages.extend(answers)
        messages.append({"role": "assistant", "content": _assistant(rng, think, _text(rng, 1, 4))})
    return {"uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "messages": messages, "tools": tools}
