"""`cm2 label`, `cm2 filter-llm`, `cm2 compress-cot`: annotation jobs over dialogue files, resumable (the work:
`cm2.annotate.files`). Settings come from `--config` (an `AnnotateConfig`: `llm`, `concurrency`, `label`,
`reference`, `filter`, `compress`) and `--set`, e.g. `--set llm.model=NAME --set llm.base_url=URL`.
"""

# No `from __future__ import annotations`: the commands' option names are made per job, at definition time.
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cm2.annotate.config import AnnotateConfig
from cm2.annotate.files import JOBS, JobName, run_annotation, unfinished_message
from cm2.cli.guard import fail
from cm2.cli.options import InputFormat, configured
from cm2.cli.root import app
from cm2.console import print_problems, print_rows


def job_command(verb: str, job: JobName) -> Callable[..., None]:
    """The command `cm2 VERB` running annotation job `job` (its help: the job's docstring): its side file is
    `--SIDE` (default OUT.SIDE.jsonl), `--RETRY` tries that file's dialogues again; `--allow-partial` only for
    jobs that take it, and `--from-reference-calls` only for `label`."""
    side, retry = JOBS[job].side_file, JOBS[job].retry
    dropped = ({"from_reference_calls"} if job != "label" else set()) | (
        {"allow_partial"} if job == "compress" else set()
    )

    def command(
        source: Annotated[Path, typer.Argument(exists=True, help="Dialogues (any format cm2 reads).")],
        out: Annotated[Path, typer.Argument(help="Output dialogues, JSONL (appended; resumable).")],
        from_reference_calls: Annotated[
            bool, typer.Option(help="Deterministic items from the reference tool calls; no LLM.")
        ] = False,
        side_file: Annotated[
            Path | None, typer.Option(f"--{side}", dir_okay=False, help=f"Side file (default OUT.{side}.jsonl).")
        ] = None,
        retry_side: Annotated[
            bool, typer.Option(f"--{retry}/--no-{retry}", help=f"Try the dialogues of the {side} file again.")
        ] = False,
        allow_partial: Annotated[
            bool, typer.Option(help="Record dialogues the endpoint failed on in the side file (not retried); exit 0.")
        ] = False,
        fmt: InputFormat = None,
        summary: Annotated[Path | None, typer.Option(dir_okay=False, help="Also write the summary as JSON.")] = None,
        progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
        *,
        settings: AnnotateConfig,
        config: Path | None,
    ) -> None:
        name = "reference" if from_reference_calls else job
        options: dict[str, bool] = {retry.replace("-", "_"): retry_side} if name != "reference" else {}
        options |= {"allow_partial": allow_partial} if "allow_partial" not in dropped else {}
        report, figures = run_annotation(
            name,
            source,
            out,
            settings,
            side=side_file,
            config=config,
            summary=summary,
            fmt=fmt,
            progress=progress,
            **options,
        )
        print_problems(report.unreadable, 10)
        title = f"cm2 {verb}" + (" --from-reference-calls" if from_reference_calls else "")
        print_rows(title, figures)
        message = unfinished_message(report, name)
        if message is not None:
            raise fail(message, 1)

    signature = inspect.signature(command)
    params = [p for p in signature.parameters.values() if p.name not in dropped]
    command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    command.__doc__ = inspect.getdoc(JOBS[job].run)
    return configured(AnnotateConfig)(command)


app.command("label")(job_command("label", "label"))
app.command("filter-llm")(job_command("filter-llm", "filter"))
app.command("compress-cot")(job_command("compress-cot", "compress"))
