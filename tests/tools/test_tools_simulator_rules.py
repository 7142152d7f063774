"""The simulator's branches that need no LLM: unknown tool, bad arguments, recorded answers, schema checks."""

from __future__ import annotations

import asyncio
import json

import pytest
from tools_builders import BOOKING, RESTAURANTS, WEATHER_OSLO_1, WEATHER_OSLO_2, tool_call

from cm2.data.io import read_dialogues
from cm2.data.samples import sample_path
from cm2.llm.fake import ScriptedLLM
from cm2.llm.protocol import ChatRequest
from cm2.schema import Dialogue
from cm2.tools import HybridToolSimulator, ToolResult, is_tool_error


def never(request: ChatRequest) -> str:
    raise AssertionError("the LLM must not be asked")


def run(sim: HybridToolSimulator, name: str, arguments: str | dict[str, object]) -> ToolResult:
    return asyncio.run(sim.call(tool_call(name, arguments)))


def error_body(result: ToolResult) -> dict[str, str]:
    assert result.source == "error" and is_tool_error(result.content)
    body: dict[str, str] = json.loads(result.content)["error_tool_call"]
    assert body["code"] == result.error_code
    return body


@pytest.fixture
def sim(weather_dialogue: Dialogue) -> HybridToolSimulator:
    return HybridToolSimulator(weather_dialogue, ScriptedLLM(never))


def test_unknown_tool_is_an_error_naming_the_available_tools(sim: HybridToolSimulator) -> None:
    body = error_body(run(sim, "get_wether", {"city": "Oslo"}))
    assert body["code"] == "unknown_tool" and body["tool"] == "get_wether"
    assert "book_table, get_weather, list_restaurants" in body["message"]


@pytest.mark.parametrize("arguments", ['["Oslo"]', '"Oslo"', "city=Oslo", "42", '{"city": "Oslo"'])
def test_arguments_that_are_not_a_json_object_are_rejected(sim: HybridToolSimulator, arguments: str) -> None:
    body = error_body(run(sim, "get_weather", arguments))
    assert body["code"] == "invalid_arguments" and "get_weather" in body["message"]


@pytest.mark.parametrize(
    "arguments",
    [
        '{"city": "Oslo", "unit": "C"}',
        '{"unit":"C","city":"Oslo"}',
        '{\n  "unit": "C",\n  "city": "Oslo"\n}',
        {"unit": "C", "city": "Oslo"},
    ],
)
def test_recorded_call_is_replayed_whatever_the_spelling(
    sim: HybridToolSimulator, arguments: str | dict[str, object]
) -> None:
    result = run(sim, "get_weather", arguments)
    assert result.source == "replayed" and result.content == WEATHER_OSLO_1 and result.error_code is None


def test_numbers_are_canonical_and_ids_pair_tool_messages(sim: HybridToolSimulator) -> None:
    # Recorded with people=2.0 and answered by id in reverse order; asked with people=2.
    result = run(sim, "book_table", {"people": 2, "restaurant": "Fjord"})
    assert (result.source, result.content) == ("replayed", BOOKING)
    assert run(sim, "list_restaurants", '{"area": "Oslo"}').content == RESTAURANTS


def test_several_recorded_answers_come_in_order_then_the_last(sim: HybridToolSimulator) -> None:
    answers = [run(sim, "get_weather", {"city": "Oslo", "unit": "C"}).content for _ in range(4)]
    assert answers == [WEATHER_OSLO_1, WEATHER_OSLO_2, WEATHER_OSLO_2, WEATHER_OSLO_2]


def test_a_new_episode_starts_the_recorded_sequence_again(sim: HybridToolSimulator) -> None:
    run(sim, "get_weather", {"city": "Oslo", "unit": "C"})
    fresh = sim.new_episode()
    assert fresh.book is sim.book
    assert run(fresh, "get_weather", {"city": "Oslo", "unit": "C"}).content == WEATHER_OSLO_1


@pytest.mark.parametrize(
    ("tool", "arguments", "where"),
    [
        ("get_weather", {"city": 5}, "city"),
        ("get_weather", {"city": "Oslo", "unit": "K"}, "unit"),
        ("get_weather", {"unit": "C"}, "'city' is a required property"),
        ("book_table", {"restaurant": "Fjord", "people": 0}, "people"),
    ],
)
def test_schema_violations_are_errors_with_the_validator_message(
    sim: HybridToolSimulator, tool: str, arguments: dict[str, object], where: str
) -> None:
    body = error_body(run(sim, tool, arguments))
    assert body["code"] == "schema_violation" and where in body["message"]


def test_a_recorded_call_wins_over_the_schema(weather_dialogue: Dialogue) -> None:
    # The reference may hold a call that breaks the schema; replaying it gives what the reference saw.
    weather_dialogue.messages[2].calls[0].function.arguments = '{"city": 5}'
    sim = HybridToolSimulator(weather_dialogue, ScriptedLLM(never))
    assert run(sim, "get_weather", {"city": 5}).content == WEATHER_OSLO_1


def test_unrecorded_call_without_an_llm_fails_cleanly(weather_dialogue: Dialogue) -> None:
    body = error_body(run(HybridToolSimulator(weather_dialogue), "get_weather", {"city": "Bergen"}))
    assert body["code"] == "simulation_failed"


def test_released_sample_replays_its_recorded_call() -> None:
    dialogue = next(read_dialogues(sample_path()))
    sim = HybridToolSimulator(dialogue, ScriptedLLM(never))
    result = run(sim, "get_the_last_games_of_a_football_team", '{"teamid":"Washington Huskies"}')
    assert result.source == "replayed"
    assert json.loads(result.content)["details"]["invalid"]["teamid"] == "Expected integer, got string"
    assert sim.tools == dialogue.tools
