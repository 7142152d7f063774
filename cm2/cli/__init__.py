"""The `cm2` command line: one app, one verb per concept."""

from __future__ import annotations

# Each module adds its verbs to `app` as it is imported; this order (the pipeline's) is `cm2 --help`'s.
# isort: off
import cm2.cli.data
import cm2.cli.data_import_bfcl
import cm2.cli.data_recovery
import cm2.cli.annotate
import cm2.cli.judge
import cm2.cli.serve
import cm2.cli.train
import cm2.cli.eval
import cm2.cli.report
import cm2.cli.demo  # noqa: F401 (each import above registers verbs)

# isort: on
from cm2.cli.root import app


def main() -> None:
    app()
