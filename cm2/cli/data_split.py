"""`cm2 data split`: cold-start SFT, RL training and RL validation sets from a cleaned pool."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from cm2.cli.options import Sets, command_config

if TYPE_CHECKING:
    from cm2.data.split import Size
    from cm2.data.split_run import SplitManifest


class InputFormat(StrEnum):
    """File formats `cm2.data.io` reads (default: guessed from the path)."""

    jsonl = "jsonl"
    json = "json"
    parquet = "parquet"
    hf = "hf"


SIZE_HELP = 'A count, a fraction of the candidates (0.5) or "all".'


def _size(text: str | None) -> Size | None:
    from cm2.data.split import parse_size

    if text is None:
        return None
    try:
        return parse_size(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def progress_columns() -> tuple[Any, ...]:
    return (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,.0f} records"))


def split(
    source: Annotated[Path, typer.Argument(metavar="IN", help="Cleaned pool: file or dataset directory.", exists=True)],
    outdir: Annotated[Path, typer.Argument(metavar="OUTDIR", help="Where the three sets and the manifest go.")],
    config_file: Annotated[
        Path | None, typer.Option("--config", help="YAML SplitConfig; flags given here override it.", exists=True)
    ] = None,
    sets: Sets = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the ordering hash (default: 0).")] = None,
    cold_start: Annotated[str | None, typer.Option(help=f"Cold-start set. {SIZE_HELP} (default: 8000)")] = None,
    rl: Annotated[
        str | None, typer.Option(help=f"RL training set (after the hold-out). {SIZE_HELP} (default: 8000)")
    ] = None,
    rl_val: Annotated[str | None, typer.Option(help=f"RL hold-out. {SIZE_HELP} (default: 500)")] = None,
    min_turns: Annotated[int | None, typer.Option(help="RL filter: fewest user turns (default: 2).", min=0)] = None,
    min_tool_calls: Annotated[
        int | None, typer.Option(help="RL filter: fewest tool calls (default: 2).", min=0)
    ] = None,
    min_distinct_tools: Annotated[
        int | None, typer.Option(help="RL filter: fewest distinct tools called (default: 0 = any).", min=0)
    ] = None,
    exclude_rl_eligible: Annotated[
        bool | None,
        typer.Option(
            "--exclude-rl-eligible/--include-rl-eligible",
            help="Draw cold start only from dialogues that fail the RL filter (default: include, as the paper).",
        ),
    ] = None,
    fmt: Annotated[InputFormat | None, typer.Option("--format", help="Input file format (default: from IN).")] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Leave unreadable records out (listed in the manifest).")
    ] = False,
) -> None:
    """Split IN into OUTDIR/cold_start.jsonl, rl_train.jsonl, rl_val.jsonl and split_manifest.json.

    Order is a hash of (seed, uuid): the same seed gives the same sets whatever the input order.
    """
    from cm2.cli.guard import EXIT_BAD_INPUT, check_paths, fail
    from cm2.data.split import SplitConfig
    from cm2.data.split_run import run_split

    errors = Console(stderr=True)
    check_paths([source, config_file], dirs=[outdir])
    try:
        base = command_config(SplitConfig, config_file, sets)
        config = base.with_overrides(
            {
                "seed": seed,
                "cold_start": _size(cold_start),
                "rl": _size(rl),
                "rl_val": _size(rl_val),
                "min_turns": min_turns,
                "min_tool_calls": min_tool_calls,
                "min_distinct_tools": min_distinct_tools,
                "exclude_rl_eligible_from_cold_start": exclude_rl_eligible,
            }
        )
    except ValueError as exc:
        errors.print(f"[red]error:[/] invalid split config: {exc}")
        raise typer.Exit(2) from None

    with Progress(*progress_columns(), TimeElapsedColumn(), console=errors) as progress:
        tasks: dict[str, TaskID] = {}

        def hook(stage: str, done: int) -> None:
            if stage not in tasks:
                label = "planning" if stage == "plan" else "writing"
                tasks[stage] = progress.add_task(f"{label} {source.name}", total=None)
            progress.update(tasks[stage], completed=done)

        try:
            manifest = run_split(
                source, outdir, config, fmt=fmt.value if fmt else None, skip_invalid=skip_invalid, progress=hook
            )
        except RuntimeError as exc:  # the input changed while it was split
            raise fail(str(exc), EXIT_BAD_INPUT) from None
    _report(manifest, outdir, Console())


def _report(manifest: SplitManifest, outdir: Path, console: Console) -> None:
    counts = manifest.counts
    table = Table(title=f"split of {manifest.input.records:,} records (seed {manifest.seed})")
    for column in ("set", "requested", "candidates", "selected", "file"):
        table.add_column(column, justify="left" if column in ("set", "file") else "right")
    for name in ("cold_start", "rl_train", "rl_val"):
        part = getattr(counts, name)
        table.add_row(name, f"{part.requested:,}", f"{part.candidates:,}", f"{part.selected:,}", f"{name}.jsonl")
    console.print(table)
    console.print(
        f"RL-eligible {counts.rl_eligible:,} · unused {counts.unused:,} · duplicates {counts.duplicates:,}"
        f" · invalid {counts.invalid:,} → {outdir / 'split_manifest.json'}",
        highlight=False,
    )
    for name in ("cold_start", "rl_train", "rl_val"):
        part = getattr(counts, name)
        if part.short:
            console.print(f"[yellow]warning:[/] {name}: {part.short:,} fewer than requested (not enough candidates)")
    if manifest.invalid:
        from cm2.cli.guard import print_problems

        print_problems([(item.location, item.error or "") for item in manifest.invalid], 5, "left out")
    if counts.duplicates:
        first = ", ".join(item.uuid or item.location for item in manifest.duplicates[:5])
        console.print(f"[yellow]warning:[/] {counts.duplicates:,} duplicate uuids left out (e.g. {first})")


def register(app: typer.Typer) -> None:
    """Add `split` to the `cm2 data` group."""
    app.command("split")(split)
