"""Canonical comparison of tool-call argument values, majority votes and the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cm2.judge import JudgeConfig, majority, values_equal


@pytest.mark.parametrize(
    ("a", "b", "tolerance", "equal"),
    [
        (1, 1.0, 0.0, True),
        (0.1 + 0.2, 0.3, 1e-9, True),
        (0.1 + 0.2, 0.3, 0.0, False),
        ({"x": 1, "y": [1, "a"]}, {"y": [1.0, "a"], "x": 1}, 0.0, True),
        ([1, 2], [2, 1], 0.0, False),
        ({"x": 1}, {"x": 1, "y": 2}, 0.0, False),
        (True, 1, 0.0, False),
        ("1", 1, 0.0, False),
        (None, None, 0.0, True),
    ],
)
def test_values_equal(a: object, b: object, tolerance: float, equal: bool) -> None:
    assert values_equal(a, b, tolerance) is equal


def test_majority() -> None:
    assert majority([True, False, True]) is True
    assert majority([None, False]) is False
    assert majority([None, None]) is None
    assert majority([]) is None
    assert majority([True, False], "true") is True
    assert majority([True, False], "none") is None


def test_config_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "judge.yaml"
    path.write_text("judge:\n  mode: per_item\n  votes: 3\n  tie: none\n")
    config = JudgeConfig.from_yaml(path)
    assert (config.mode, config.votes, config.tie) == ("per_item", 3, "none")
    path.write_text("mode: sometimes\n")
    with pytest.raises(ValueError, match=r"judge\.yaml: invalid JudgeConfig"):
        JudgeConfig.from_yaml(path)
