"""`cm2 data import-bfcl`: BFCL-V4 multi-turn entries as reference dialogues with real tool outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cm2.benchmarks.bfcl.data import ImportOptions, import_bfcl, manifest_path
from cm2.cli.data import data_app
from cm2.cli.guard import check_paths, fail_on
from cm2.cli.options import configured
from cm2.console import print_problems, say

FLAGS = ("categories", "ids=id", "split", "limit", "classes", "tool_docs", "reply_item", "turn_checks")


@data_app.command("import-bfcl")
@configured(ImportOptions, *FLAGS, "call_budget_slack")
def import_bfcl_command(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Output file (.jsonl, .json, .parquet); replaced.")],
    *,
    settings: ImportOptions,
    config: Path | None,
) -> None:
    """Run each entry's ground-truth calls on BFCL's backends and write the dialogues (uuid = BFCL id, with
    deterministic checklists) plus OUT.manifest.json (split rule, ids per split, entries left out and why).
    The split is a fixed DEMO split by entry id; scores on it are not BFCL leaderboard numbers."""
    check_paths([config], files=[out, manifest_path(out)])
    with fail_on(ImportError):  # BFCL's package is missing
        manifest = import_bfcl(out, settings)
    counts = ", ".join(f"{name} {count}" for name, count in manifest.counts.items())
    say(f"wrote {sum(manifest.counts.values())} dialogues ({counts}) → {out}", err=True)
    print_problems([(item.id, item.reason) for item in manifest.skipped], 5, "  left out")
    say(f"manifest → {manifest_path(out)}", err=True)
