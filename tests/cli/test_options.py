"""`--config`, `--set` and the flags generated from a config model, as a command sees them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from cm2.benchmarks.bfcl.evaluate import BfclConfig
from cm2.cli.guard import guard_app
from cm2.cli.options import ConfigFile, Sets, command_config, model_flags


def _app(seen: list[BfclConfig]) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @model_flags(BfclConfig, "ids", "limit")
    def run(config: ConfigFile = None, sets: Sets = None, flags: dict[str, Any] | None = None) -> None:
        seen.append(command_config(BfclConfig, config, sets, **(flags or {})))

    guard_app(app)
    return app


def test_generated_flags_a_file_and_set_overrides_combine(tmp_path: Path) -> None:
    seen: list[BfclConfig] = []
    config = tmp_path / "bfcl.yaml"
    config.write_text("limit: 5\nconcurrency: 3\n", encoding="utf-8")
    args = ["--config", str(config), "--ids", "a, b", "--set", "temperature=0.5", "--set", "policy.model=m"]
    result = CliRunner().invoke(_app(seen), args)
    assert result.exit_code == 0, result.output
    (got,) = seen
    assert (got.ids, got.limit, got.concurrency, got.temperature) == (["a", "b"], 5, 3, 0.5)
    assert got.policy is not None and got.policy.model == "m"
    overridden = CliRunner().invoke(_app(seen), ["--limit", "2", "--set", "limit=4"])
    assert overridden.exit_code == 0 and seen[-1].limit == 4  # --set wins over a generated flag


def test_bad_values_end_in_one_error_line_naming_the_setting() -> None:
    result = CliRunner().invoke(_app([]), ["--set", "concurrency=0"])
    assert result.exit_code == 2 and "concurrency" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(_app([]), ["--limit", "x"])
    assert result.exit_code == 2 and "--limit" in result.output
