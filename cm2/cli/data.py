"""`cm2 data …`: conversion, rule filters, splits and statistics."""

from __future__ import annotations

import typer

from cm2.cli import data_convert, data_filter, data_import_bfcl, data_split, data_stats

app = typer.Typer(no_args_is_help=True)
for module in (data_convert, data_filter, data_split, data_stats, data_import_bfcl):
    module.register(app)
