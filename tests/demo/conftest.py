"""Fixtures of the demo tests: a CLI with the demo commands registered, and a replaying chat policy."""

from __future__ import annotations

import typer

from cm2.cli import data as data_cli
from cm2.cli import data_import_bfcl, demo


def demo_app() -> typer.Typer:
    """`cm2` with `demo` and `data import-bfcl` (registered here until the main app lists them)."""
    from cm2.cli import app

    names = {command.name for command in app.registered_commands}
    if "demo" not in names:
        demo.register(app)
    data_names = {command.name for command in data_cli.app.registered_commands}
    if "import-bfcl" not in data_names:
        data_import_bfcl.register(data_cli.app)
    return app
