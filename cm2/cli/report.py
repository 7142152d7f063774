"""`cm2 report` (plots, costs and trajectories of RL runs) and `cm2 view` (the trajectory viewer alone)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class LevelName(StrEnum):
    trajectory = "trajectory"
    turn = "turn"
    step = "step"


class ScaleName(StrEnum):
    one = "one"
    std = "std"


def _fail(message: str) -> typer.Exit:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(2)


def _print_notes(notes: list[str]) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True)
    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True, highlight=False)


def report_command(
    run_dirs: Annotated[
        list[Path], typer.Argument(exists=True, file_okay=False, help="RL run directories (several are overlaid).")
    ],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: RUN_DIR/report for one run).")] = None,
    smooth: Annotated[int, typer.Option(min=1, help="Moving-average window in training steps (1: none).")] = 10,
    dialogues: Annotated[
        Path | None,
        typer.Option(exists=True, help="Dialogues with checklists (default: each run's `data` in rl_config.json)."),
    ] = None,
    max_rollouts: Annotated[
        int, typer.Option(min=0, help="Rollouts in the viewer: the latest whole groups (shared among runs).")
    ] = 200,
    max_chars: Annotated[int, typer.Option(min=100, help="Longest text shown per message or tool result.")] = 20_000,
) -> None:
    """Write OUT/report.html (self-contained) and PNG plots: rewards, early stops, calls, tokens, dollars,
    pass rate per checklist focus, trainer metrics, and the trajectory viewer with every verdict."""
    from cm2.cli.guard import check_paths
    from cm2.data import RecordError
    from cm2.data.errors import NoUsableRecordsError
    from cm2.report import ReportConfig, build_report

    if out is None:
        if len(run_dirs) > 1:
            raise _fail("several runs: pass --out DIR")
        out = run_dirs[0] / "report"
    check_paths([*run_dirs, dialogues], dirs=[out])
    options = ReportConfig(smooth=smooth, max_rollouts=max_rollouts, max_chars=max_chars)
    try:
        result = build_report(run_dirs, out, dialogues=dialogues, options=options)
    except NoUsableRecordsError:
        raise
    except (ValueError, OSError, RecordError) as exc:
        raise _fail(str(exc)) from None
    _print_notes(result.notes)
    typer.echo(f"wrote {result.html} ({result.rollouts_shown} rollouts in the viewer) and {len(result.pngs)} plots")


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
    level: Annotated[
        LevelName | None,
        typer.Option(help="Advantage level for recomputed advantages (default: the run's, else trajectory)."),
    ] = None,
    scale: Annotated[ScaleName | None, typer.Option(help="Advantage scale for recomputed advantages.")] = None,
    max_rollouts: Annotated[int | None, typer.Option(min=1, help="Show only the first N rollouts.")] = None,
    max_chars: Annotated[int, typer.Option(min=100, help="Longest text shown per message or tool result.")] = 20_000,
) -> None:
    """Write a standalone HTML trajectory viewer: turns, steps, tool results and their source, every verdict,
    flips, and the rewards and advantages each step received."""
    from cm2.cli.guard import check_paths
    from cm2.data import RecordError
    from cm2.data.errors import NoUsableRecordsError
    from cm2.report import write_view

    target = out or file.with_suffix(".html")
    check_paths([file, dialogues, trajectories], files=[target])
    overrides = {name: value.value for name, value in (("level", level), ("scale", scale)) if value is not None}
    try:
        result = write_view(
            file,
            target,
            dialogues=dialogues,
            trajectories=trajectories,
            reward=overrides,
            max_rollouts=max_rollouts,
            max_chars=max_chars,
        )
    except NoUsableRecordsError:
        raise
    except (ValueError, OSError, RecordError) as exc:
        raise _fail(str(exc)) from None
    _print_notes(result.notes)
    typer.echo(f"wrote {result.html} ({result.rollouts} rollouts)")


def register(app: typer.Typer) -> None:
    """Add `cm2 report` and `cm2 view`."""
    app.command("report")(report_command)
    app.command("view")(view_command)
