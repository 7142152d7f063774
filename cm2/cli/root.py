"""The `cm2` app: each verb module adds its commands (or its group) to `app` where it defines them; bad input
ends in one `error:` line (`GuardedGroup`)."""

from __future__ import annotations

import typer

from cm2.cli.guard import GuardedGroup

app = typer.Typer(cls=GuardedGroup, help="cm2: train tool-using agents with checklist rewards.", no_args_is_help=True)
