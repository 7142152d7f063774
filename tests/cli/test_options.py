"""`--config`, `--set` and the flags generated from a config model (`configured`), as a command sees them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from typer.testing import CliRunner

from cm2.benchmarks.bfcl.evaluate import BfclConfig
from cm2.cli.guard import GuardedGroup
from cm2.cli.options import configured


def _guarded_app() -> typer.Typer:
    """A group like `cm2`'s (errors as one line), its command `run` named on the command line."""
    app = typer.Typer(cls=GuardedGroup)
    app.callback()(lambda: None)
    return app


def _app(seen: list[BfclConfig], files: list[Path | None] | None = None) -> typer.Typer:
    app = _guarded_app()

    @app.command("run")
    @configured(BfclConfig, "ids", "limit")
    def run(*, settings: BfclConfig, config: Path | None) -> None:
        seen.append(settings)
        (files if files is not None else []).append(config)

    return app


def test_generated_flags_a_file_and_set_overrides_combine(tmp_path: Path) -> None:
    seen: list[BfclConfig] = []
    files: list[Path | None] = []
    config = tmp_path / "bfcl.yaml"
    config.write_text("limit: 5\nconcurrency: 3\n", encoding="utf-8")
    args = ["run", "--config", str(config), "--ids", "a, b", "--set", "temperature=0.5", "--set", "policy.model=m"]
    result = CliRunner().invoke(_app(seen, files), args)
    assert result.exit_code == 0, result.output
    assert files == [config]  # the command sees the file it asked for, to check it against its outputs
    (got,) = seen
    assert (got.ids, got.limit, got.concurrency, got.temperature) == (["a", "b"], 5, 3, 0.5)
    assert got.policy is not None and got.policy.model == "m"
    overridden = CliRunner().invoke(_app(seen), ["run", "--limit", "2", "--set", "limit=4"])
    assert overridden.exit_code == 0 and seen[-1].limit == 4  # --set wins over a generated flag


def test_bad_values_end_in_one_error_line_naming_the_setting() -> None:
    result = CliRunner().invoke(_app([]), ["run", "--set", "concurrency=0"])
    assert result.exit_code == 2 and "concurrency" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(_app([]), ["run", "--limit", "x"])
    assert result.exit_code == 2 and "--limit" in result.output


class _Run(BaseModel):
    resume: bool | str = False


def test_a_required_config_and_a_hand_declared_flag_under_set(tmp_path: Path) -> None:
    seen: list[bool | str] = []
    app = _guarded_app()

    @app.command("run")
    @configured(_Run, "resume", required=True, options={"resume": Annotated[bool | None, typer.Option("--resume")]})
    def run(*, settings: _Run) -> None:
        seen.append(settings.resume)

    config = tmp_path / "run.yaml"
    config.write_text("resume: false\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["run", "--resume"]).exit_code == 2  # no --config
    for args in (["--resume"], ["--resume", "--set", "resume=ckpt"], []):
        assert CliRunner().invoke(app, ["run", "--config", str(config), *args]).exit_code == 0
    assert seen == [True, "ckpt", False]
