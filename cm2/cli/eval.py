"""`cm2 eval checklist|bfcl|tau2`: one command per benchmark."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel

from cm2.benchmarks.bfcl.evaluate import BfclConfig, run_bfcl_eval
from cm2.benchmarks.tau2.evaluate import Tau2Config, run_tau2_eval
from cm2.cli.guard import check_paths, fail
from cm2.cli.options import ChatTemplate, configured
from cm2.cli.root import app
from cm2.console import print_problems, say
from cm2.eval.checklist import ChecklistEvalConfig
from cm2.eval.checklist_run import run_checklist_eval, unscored_message
from cm2.eval.results import EvalResult

eval_app = typer.Typer(
    help="Evaluate a policy: held-out checklists, BFCL-V4 multi-turn, τ²-bench.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")
Checkpoint = Annotated[
    Path | None,
    typer.Option("--checkpoint", "--policy", help="A local checkpoint, served in-process for the run."),
]
Out = Annotated[Path | None, typer.Option(help="Results directory [default: runs/eval/<model>].")]


def _report(result: EvalResult, out: Path) -> None:
    json_path, md_path = result.write(out)
    say(result.markdown(), f"wrote {json_path} and {md_path}")


@eval_app.command("checklist")
@configured(ChecklistEvalConfig, "rollouts", "limit")
def checklist_command(
    dialogues: Annotated[Path, typer.Argument(exists=True, help="Held-out dialogues with checklists.")],
    checkpoint: Checkpoint = None,
    chat_template: ChatTemplate = None,
    out: Out = None,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial", help="Exit 0 even when some rollouts failed or lack judge verdicts (left unscored)."
        ),
    ] = False,
    *,
    settings: ChecklistEvalConfig,
    config: Path | None,
) -> None:
    """Run a policy on held-out DIALOGUES (replayed users, hybrid tool simulator, checklist judge) and report
    trajectory / turn checklist scores, pass rates per item focus, early stops and cost.

    Settings (`cm2.eval.ChecklistEvalConfig`): policy.*, judge.* with judge.llm.*, simulator.* (its llm
    defaults to the judge's), rollouts, concurrency, limit, episode.*. Without judge.llm, items with a
    `check` are still decided in code; any other item has no verdict. A rollout that failed or lacks a verdict
    is left out of the scores and not saved: the command exits 1, and running it again retries just those.
    """
    check_paths([dialogues, config], dirs=[out])
    problems: list[tuple[str, str]] = []
    result, target = run_checklist_eval(
        settings, dialogues, out=out, checkpoint=checkpoint, chat_template=chat_template, problems=problems
    )
    print_problems(problems, 10, "left out")
    _report(result, target)
    message = unscored_message(result)
    if message is not None and not allow_partial:
        raise fail(message, 1)


def benchmark_command(
    name: str, model: type[BaseModel], run: Callable[..., tuple[EvalResult, Path]], *fields: str
) -> None:
    """Add `cm2 eval NAME`: settings `model` (flags for `fields`), the policy (or --checkpoint) through `run`;
    the help is `run`'s docstring."""

    @configured(model, *fields)
    def command(
        checkpoint: Checkpoint = None, chat_template: ChatTemplate = None, out: Out = None, *, settings: BaseModel
    ) -> None:
        _report(*run(settings, out=out, checkpoint=checkpoint, chat_template=chat_template))

    eval_app.command(name, help=inspect.cleandoc(run.__doc__ or ""))(command)


benchmark_command("bfcl", BfclConfig, run_bfcl_eval, "categories", "ids", "limit")
benchmark_command("tau2", Tau2Config, run_tau2_eval, "domains", "trials", "tasks", "num_tasks")
