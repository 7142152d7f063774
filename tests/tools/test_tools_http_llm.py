"""The simulator with a real LLM client over HTTP: cm2.llm's OpenAI backend against its test server."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import yaml
from tools_builders import tool_call

from cm2.build import build_environments
from cm2.config import load_config
from cm2.data.io import find_dialogue
from cm2.llm import make_client
from cm2.llm.config import LLMConfig
from cm2.llm.testing import FakeOpenAIServer
from cm2.schema import Dialogue
from cm2.tools import HybridToolSimulator, SimulatorConfig, ToolResult


def arguments_of(body: dict[str, Any]) -> dict[str, Any]:
    """The current call's arguments, read from the last data block of the prompt the server received."""
    text = body["messages"][-1]["content"]
    blocks = re.findall(r"BEGIN_DATA (#\w+)\n(.*?)\nEND_DATA \1", text, re.DOTALL)
    value: dict[str, Any] = json.loads(blocks[-1][1])
    return value


def weather_service(body: dict[str, Any]) -> str:
    city = arguments_of(body)["city"]
    return json.dumps({"city": city, "temp_c": 11, "sky": "clear"})


def simulate(dialogue: Dialogue, server: FakeOpenAIServer, config: SimulatorConfig, *calls: str) -> list[ToolResult]:
    llm = make_client(
        LLMConfig(model="sim", base_urls=[server.base_url], api_key_env=None, max_retries=0, json_attempts=1)
    )
    sim = HybridToolSimulator(dialogue, llm, config)

    async def run() -> list[ToolResult]:
        return [await sim.call(tool_call("get_weather", {"city": city})) for city in calls]

    return asyncio.run(run())


def test_simulated_answer_comes_over_http_as_structured_output(weather_dialogue: Dialogue) -> None:
    with FakeOpenAIServer(weather_service) as server:
        bergen, oslo, again = simulate(weather_dialogue, server, SimulatorConfig(), "Bergen", "Oslo", "Bergen")
    assert bergen.source == "simulated" and json.loads(bergen.content) == {
        "city": "Bergen",
        "temp_c": 11,
        "sky": "clear",
    }
    assert bergen.usage.prompt_tokens > 100 and bergen.usage.completion_tokens > 0
    assert again.memoized and again.content == bergen.content
    assert oslo.source == "simulated"  # Oslo without a unit was never recorded
    assert server.request_count == 2
    body = server.requests[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert body["temperature"] == 0.0 and body["seed"] == 0
    assert body["messages"][0]["role"] == "system" and "get_weather" in body["messages"][1]["content"]


def test_a_server_that_never_answers_json_gives_simulation_failed(weather_dialogue: Dialogue) -> None:
    with FakeOpenAIServer(lambda body: "It is sunny in Bergen!") as server:
        (result,) = simulate(weather_dialogue, server, SimulatorConfig(max_attempts=2), "Bergen")
    assert result.source == "error" and result.error_code == "simulation_failed"
    assert server.request_count == 2 and [r["seed"] for r in server.requests] == [0, 1]


def test_cli_llm_config_file_reaches_the_server(weather_dialogue: Dialogue, tmp_path: Path) -> None:
    with FakeOpenAIServer(weather_service) as server:
        config, dataset = tmp_path / "simulator.yaml", tmp_path / "weather.jsonl"
        config.write_text(yaml.safe_dump({"llm": {"model": "sim", "api_key_env": None}}), encoding="utf-8")
        dataset.write_text(json.dumps(weather_dialogue.dump()) + "\n", encoding="utf-8")
        settings = load_config(SimulatorConfig, config, {"llm.base_url": server.base_url})
        sim = build_environments("simulated", settings)(find_dialogue(dataset))
        result = asyncio.run(sim.call(tool_call("get_weather", {"city": "Tromsø"})))
    assert json.loads(result.content)["city"] == "Tromsø" and server.requests[0]["model"] == "sim"
