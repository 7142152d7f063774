"""Fixtures of the tool-environment tests."""

from __future__ import annotations

import pytest
from tools_builders import weather_dialogue as build_weather_dialogue

from cm2.schema import Dialogue


@pytest.fixture
def weather_dialogue() -> Dialogue:
    return build_weather_dialogue()
