"""The `cm2` app: each verb module adds its commands (or its group) to `app` where it defines them."""

from __future__ import annotations

import typer

app = typer.Typer(help="cm2: train tool-using agents with checklist rewards.", no_args_is_help=True)


@app.callback()
def _root() -> None:
    """cm2: train tool-using agents with checklist rewards."""
