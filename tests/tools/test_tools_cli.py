"""`cm2 tools serve`: choosing the dialogue and the environment, and its errors (serving itself: test_tools_mcp)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tools_builders import weather_dialogue
from typer.testing import CliRunner

from cm2.build import build_environments
from cm2.cli import app
from cm2.data.io import find_dialogue
from cm2.tools import HybridToolSimulator, SimulatorConfig


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "dialogues.jsonl"
    second = weather_dialogue().dump() | {"uuid": "weather-2"}
    path.write_text(json.dumps(weather_dialogue().dump()) + "\n" + json.dumps(second) + "\n", encoding="utf-8")
    return path


def test_simulated_mode_picks_the_dialogue_and_makes_fresh_episodes(dataset: Path) -> None:
    make, dialogue = build_environments("simulated", SimulatorConfig()), find_dialogue(dataset, "weather-2")
    first, second = make(dialogue), make(dialogue)
    assert isinstance(first, HybridToolSimulator) and isinstance(second, HybridToolSimulator)
    assert first is not second and first.book is second.book
    assert [tool.name for tool in first.tools] == ["get_weather", "list_restaurants", "book_table"]


def test_bfcl_environment_is_chosen_by_its_registered_name(tmp_path: Path) -> None:
    pytest.importorskip("bfcl_eval")
    dataset = tmp_path / "bfcl.jsonl"  # as `cm2 data import-bfcl` writes it: the uuid is the BFCL entry id
    dataset.write_text(json.dumps({"uuid": "multi_turn_base_1", "messages": [{"role": "user", "content": "hi"}]}))
    env = build_environments("bfcl")(find_dialogue(dataset, "multi_turn_base_1"))
    assert "ls" in {tool.name for tool in env.tools}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dialogue", "nope"], "no dialogue with uuid 'nope' among the 2"),
        (["--transport", "carrier-pigeon"], "carrier-pigeon"),
        (["--mode", "nope"], "unknown tool environment 'nope'"),
    ],
)
def test_bad_choices_are_reported(dataset: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["tools", "serve", str(dataset), *args], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and message in result.output


def test_missing_dataset_is_reported(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["tools", "serve", str(tmp_path / "none.jsonl")], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "does not exist" in result.output
