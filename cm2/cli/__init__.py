"""The `cm2` command line: one app, one verb per concept."""

from __future__ import annotations

import typer

from cm2.cli import annotate, demo, judge, llm, report, tools, train
from cm2.cli import data as data_cli
from cm2.cli import eval as eval_cli
from cm2.cli.guard import guard_app

app = typer.Typer(help="cm2: train tool-using agents with checklist rewards.", no_args_is_help=True)
app.add_typer(data_cli.app, name="data", help="Ingest, filter, split and describe dialogue data.")
for module in (annotate, judge, llm, tools, train, eval_cli, report, demo):
    module.register(app)
guard_app(app)


@app.callback()
def _root() -> None:
    """cm2: train tool-using agents with checklist rewards."""


def main() -> None:
    app()
