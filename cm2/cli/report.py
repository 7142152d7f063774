"""`cm2 report` (plots, costs and trajectories of RL runs) and `cm2 view` (the trajectory viewer alone)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from cm2.cli.guard import check_paths, fail
from cm2.cli.options import Sets, configured, model_flags
from cm2.cli.root import app
from cm2.config import parse_overrides
from cm2.console import say
from cm2.data.errors import NoUsableRecordsError, RecordError
from cm2.report import build_report, write_view
from cm2.report.report import ReportConfig
from cm2.reward import RewardConfig

T = TypeVar("T")


def _reported(make: Callable[[], T]) -> T:
    """`make()`, with a bad record of a file it reads an exit 2 like any bad input (nothing usable: exit 1)."""
    try:
        result = make()
    except RecordError as exc:
        if isinstance(exc, NoUsableRecordsError):
            raise
        raise fail(str(exc)) from None
    say(*(f"note: {note}" for note in getattr(result, "notes", [])), err=True)
    return result


@app.command("report")
@configured(ReportConfig, "smooth", "max_rollouts", "max_chars")
def report_command(
    run_dirs: Annotated[
        list[Path], typer.Argument(exists=True, file_okay=False, help="RL run directories (several are overlaid).")
    ],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: RUN_DIR/report for one run).")] = None,
    dialogues: Annotated[
        Path | None,
        typer.Option(exists=True, help="Dialogues with checklists (default: each run's `data` in rl_config.json)."),
    ] = None,
    *,
    settings: ReportConfig,
    config: Path | None,
) -> None:
    """Write OUT/report.html (self-contained) and PNG plots: rewards, early stops, calls, tokens, dollars,
    pass rate per checklist focus, trainer metrics, and the trajectory viewer with every verdict."""
    if out is None:
        if len(run_dirs) > 1:
            raise fail("several runs: pass --out DIR")
        out = run_dirs[0] / "report"
    check_paths([*run_dirs, dialogues, config], dirs=[out])
    result = _reported(lambda: build_report(run_dirs, out, dialogues=dialogues, options=settings))
    typer.echo(f"wrote {result.html} ({result.rollouts_shown} rollouts in the viewer) and {len(result.pngs)} plots")


@app.command("view")
@model_flags(RewardConfig, "level", "scale")
def view_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Trajectory JSONL or `cm2 judge` output.")],
    dialogues: Annotated[
        Path | None, typer.Option(exists=True, help="Dialogues with checklists: item text, flips, per-step rewards.")
    ] = None,
    trajectories: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="For judge output: the trajectories it judged (messages)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output HTML (default: FILE with suffix .html).")] = None,
    max_rollouts: Annotated[int | None, typer.Option(min=1, help="Show only the first N rollouts.")] = None,
    max_chars: Annotated[int, typer.Option(min=100, help="Longest text shown per message or tool result.")] = 20_000,
    sets: Sets = None,
    *,
    flags: dict[str, Any],
) -> None:
    """Write a standalone HTML trajectory viewer: turns, steps, tool results and their source, every verdict,
    flips, and the rewards and advantages each step received; --set overrides the reward settings the advantages
    are recomputed with (default: the run's)."""
    target = out or file.with_suffix(".html")
    check_paths([file, dialogues, trajectories], files=[target])
    reward = {**flags, **parse_overrides(sets or [])}
    result = _reported(
        lambda: write_view(
            file,
            target,
            dialogues=dialogues,
            trajectories=trajectories,
            reward=reward,
            max_rollouts=max_rollouts,
            max_chars=max_chars,
        )
    )
    typer.echo(f"wrote {result.html} ({result.rollouts} rollouts)")
