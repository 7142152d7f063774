"""`cm2 data …`: conversion, rule filters, splits and statistics."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
