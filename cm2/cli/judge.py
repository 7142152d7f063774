"""`cm2 judge`: score trajectory files against their dialogues' checklists (the work: `cm2.judging`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cm2.cli.guard import EXIT_BAD_INPUT, check_paths, fail
from cm2.cli.options import configured
from cm2.cli.root import app
from cm2.console import print_problems, progress, say
from cm2.judging.files import JudgeFilesConfig, judge_with_config, summary_lines, unfinished_line
from cm2.judging.table import table_printer


@app.command("judge")
@configured(JudgeFilesConfig)
def judge_command(
    trajectories: Annotated[Path, typer.Argument(exists=True, help="Trajectories (JSONL of cm2 Trajectory records).")],
    dialogues: Annotated[Path, typer.Argument(exists=True, help="The reference dialogues with their checklists.")],
    out: Annotated[Path, typer.Argument(help="Output JSONL, appended to; rollouts already in it are skipped.")],
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Write groups with unobtainable verdicts (scored under reward.unknown) instead of leaving them "
            "for a rerun, and exit 0.",
        ),
    ] = False,
    show: Annotated[int, typer.Option(min=0, help="Print the per-turn tables of this many trajectories.")] = 3,
    *,
    settings: JudgeFilesConfig,
    config: Path | None,
) -> None:
    """Judge TRAJECTORIES against the checklists of DIALOGUES; write verdicts, rewards and advantages to OUT.

    A group with a verdict the judge could not give (endpoint down, refused, timing out) is not written and
    the command exits 1; running it again retries just those groups.
    """
    settings = settings.for_output(out)
    check_paths([trajectories, dialogues, config], files=[out, settings.judge.cache_path])
    with progress("judging", total=0) as update:
        summary = judge_with_config(
            settings,
            trajectories,
            dialogues,
            out,
            on_start=lambda n: update(total=n),
            on_trajectory=lambda _: update(),
            on_group=table_printer(show, Console()),
            allow_partial=allow_partial,
        )
    print_problems(summary.rejected, 10, "left out")
    say(*summary_lines(summary, out))
    if summary.unfinished:
        raise fail(unfinished_line(summary), EXIT_BAD_INPUT)
