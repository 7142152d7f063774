"""`cm2 data import-bfcl`: BFCL-V4 multi-turn entries as reference dialogues with real tool outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def import_bfcl_command(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Output file (.jsonl, .json, .parquet); replaced.")],
    categories: Annotated[
        list[str] | None,
        typer.Option("--categories", help="BFCL-V4 category (repeatable or comma-separated).", show_default=False),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Demo split: train, heldout or all.")] = "all",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N entries per category.")] = None,
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="Only this entry id (repeatable or comma-separated).")
    ] = None,
    classes: Annotated[
        list[str] | None,
        typer.Option("--classes", help="Only entries whose backends are all among these (e.g. GorillaFileSystem)."),
    ] = None,
    tool_docs: Annotated[
        str, typer.Option("--tool-docs", help="full: BFCL's docs; compact: about a third of the prompt tokens.")
    ] = "full",
    reply_item: Annotated[
        bool, typer.Option("--reply-item/--no-reply-item", help="Add a reply item per turn (needs an LLM judge).")
    ] = False,
    turn_checks: Annotated[
        bool,
        typer.Option(
            "--turn-checks/--no-turn-checks",
            help="Add code-checked turn-end items per turn: a visible reply, the call budget, BFCL's state check.",
        ),
    ] = True,
    call_budget_slack: Annotated[
        int,
        typer.Option(
            "--call-budget-slack", min=-1, help="Call attempts allowed beyond the reference's; -1: no budget item."
        ),
    ] = 0,
) -> None:
    """Run each entry's ground-truth calls on BFCL's backends and write the dialogues (uuid = BFCL id, with
    deterministic checklists) plus OUT.manifest.json (split rule, ids per split, entries left out and why).
    The split is a fixed DEMO split by entry id; scores on it are not BFCL leaderboard numbers."""
    from cm2.benchmarks.bfcl.data import ImportOptions, import_bfcl, manifest_path
    from cm2.cli.guard import check_paths, fail, print_problems, say

    check_paths([], files=[out, manifest_path(out)])
    names = {
        key: [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
        for key, values in (("categories", categories), ("ids", ids), ("classes", classes))
    }
    options = ImportOptions.model_validate(
        {
            **names,
            "categories": names["categories"] or ["multi_turn_base"],
            "split": split,
            "limit": limit,
            "tool_docs": tool_docs,
            "reply_item": reply_item,
            "turn_checks": turn_checks,
            "call_budget_slack": None if call_budget_slack < 0 else call_budget_slack,
        }
    )
    try:
        manifest = import_bfcl(out, options)
    except ImportError as exc:
        raise fail(str(exc)) from None
    counts = ", ".join(f"{name} {count}" for name, count in manifest.counts.items())
    say(f"wrote {sum(manifest.counts.values())} dialogues ({counts}) → {out}", err=True)
    print_problems([(item.id, item.reason) for item in manifest.skipped], 5, "  left out")
    say(f"manifest → {manifest_path(out)}", err=True)


def register(app: typer.Typer) -> None:
    """Add `import-bfcl` to the `cm2 data` group."""
    app.command("import-bfcl")(import_bfcl_command)
