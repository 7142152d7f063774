"""`cm2 data add-recovery`: SFT dialogues followed by recovery examples, played on a tool environment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cm2.cli.data import Show, Source, data_app
from cm2.cli.guard import EXIT_BAD_INPUT, check_paths, fail, fail_on
from cm2.cli.options import InputFormat
from cm2.console import print_problems, print_table, say
from cm2.data.errors import RecordError
from cm2.data.io import read_dialogues, write_records
from cm2.tools.environments import environment_name


@data_app.command("add-recovery")
def add_recovery_command(
    source: Source,
    target: Annotated[Path, typer.Argument(metavar="OUT", help="Output file (.jsonl, .json, .parquet); replaced.")],
    tools: Annotated[
        str, typer.Option("--tools", help="The registered tool environment that plays the calls (e.g. bfcl).")
    ],
    per_dialogue: Annotated[int, typer.Option("--per-dialogue", min=1, help="Recovery examples per dialogue.")] = 1,
    seed: Annotated[int, typer.Option(help="Which of a dialogue's turns are tried first.")] = 0,
    kinds: Annotated[
        list[str] | None,
        typer.Option("--kind", help="prerequisite or wrong_value (repeatable; default: both)."),
    ] = None,
    fmt: InputFormat = None,
    show: Show = 5,
) -> None:
    """Write IN's dialogues to OUT, followed by recovery examples: a turn whose first attempt at a call fails
    (made a step too early, or with a value an earlier call used), then makes the reference call and ends as the
    reference does. Each is kept only where the attempt really fails and the turn ends in the reference state;
    SFT leaves the attempt out of its loss (the `untrained_messages` field). Unreadable records are left out and
    listed."""
    from cm2.build import build_environments
    from cm2.train.recovery import KINDS, add_recovery

    chosen = tuple(k for k in KINDS if k in (kinds or KINDS))
    unknown = sorted(set(kinds or ()) - set(KINDS))
    if unknown:
        raise fail(f"--kind {unknown[0]}: not a kind of recovery; choose from {', '.join(KINDS)}")
    check_paths([source], files=[target])
    with fail_on(ValueError):
        environments = build_environments(environment_name(tools))
    problems: list[tuple[str, str]] = []
    with fail_on(RecordError, code=EXIT_BAD_INPUT):
        dialogues = list(read_dialogues(source, fmt, problems))
    print_problems(problems, show, "left out")
    if not dialogues:
        raise fail(f"{source}: no dialogue read", code=EXIT_BAD_INPUT)
    joined, report = add_recovery(dialogues, environments, per_dialogue=per_dialogue, seed=seed, kinds=chosen)
    write_records(target, [d.dump() for d in joined])
    print_table("recovery examples", ["", "count"], [[k.replace("_", " "), v] for k, v in report.summary().items()])
    say(f"wrote {len(joined)} dialogues to {target}: {len(dialogues)} of IN, then {report.made} recovery examples")
