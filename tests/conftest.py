"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cm2.data.samples import sample_path as _sample_path
from cm2.testing import weather_tool


@pytest.fixture
def sample_path() -> Path:
    """The released CM2 reference sample shipped with the package (a JSON array of one record)."""
    return _sample_path()


@pytest.fixture
def sample_records(sample_path: Path) -> list[dict[str, Any]]:
    """The records of the reference sample, as plain dicts."""
    records: list[dict[str, Any]] = json.loads(sample_path.read_text(encoding="utf-8"))
    return records


def _nemotron_metadata_wrapped() -> str:
    tools = [weather_tool()]
    return json.dumps({"tools": tools, "category": "tool_calling", "source": "synthetic"})


def _nemotron_metadata_bare() -> str:
    # Bare function specs, compact separators and raw non-ASCII: must survive byte for byte.
    tools = [
        {"name": "book_table", "description": "Réserver une table.", "parameters": {"type": "object"}},
        {"name": "list_restaurants", "parameters": {"type": "object", "properties": {"area": {"type": "string"}}}},
    ]
    return json.dumps({"difficulty": 3, "tools": tools, "notes": None}, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture
def nemotron_records() -> list[dict[str, Any]]:
    """Synthetic Nemotron tool-calling records: arguments as a string and as an object, metadata with extra keys."""
    return [
        {
            "uuid": "nem-0001",
            "license": "CC BY 4.0",
            "generator": "synthetic",
            "version": "v1",
            "category": "tool_calling",
            "reasoning": "on",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant.", "tool_calls": None},
                {"role": "user", "content": "Weather in Oslo?", "tool_calls": None},
                {
                    "role": "assistant",
                    "content": "<think>\nLook it up.\n</think>",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo", "unit": "C"}'},
                        }
                    ],
                },
                {"role": "tool", "content": '{"temp": -3, "sky": "snow"}', "tool_calls": None},
                {"role": "assistant", "content": "<think>\nAnswer.\n</think>\n\nIt is -3 °C.", "tool_calls": None},
            ],
            "metadata": _nemotron_metadata_wrapped(),
        },
        {
            "uuid": "nem-0002",
            "messages": [
                {"role": "user", "content": "Find me a place to eat in Lyon."},
                {
                    "role": "assistant",
                    "content": "<think>\nSearch first.\n</think>",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "list_restaurants", "arguments": {"area": "Lyon"}}}
                    ],
                },
                {"role": "tool", "content": '["Chez Léon"]', "tool_call_id": None},
                {"role": "assistant", "content": "<think>\nDone.\n</think>\n\nTry Chez Léon."},
            ],
            "metadata": _nemotron_metadata_bare(),
        },
    ]
