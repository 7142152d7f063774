"""`cm2 judge`: score trajectory files against their dialogues' checklists."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import Field, model_validator

from cm2.cli.options import ConfigFile, Sets, command_config
from cm2.config import YamlConfig, move_keys
from cm2.judge.config import JudgeConfig
from cm2.reward import RewardConfig

if TYPE_CHECKING:
    from rich.console import Console

    from cm2.judge import ChecklistJudge
    from cm2.judging.records import JudgedRecord
    from cm2.judging.runner import RunSummary
    from cm2.schema import Dialogue

_NO_ENDPOINT = "set judge.llm (--set judge.llm.model=NAME --set judge.llm.base_url=URL, or `llm:` in --config)"


class JudgeFilesConfig(YamlConfig):
    """`cm2 judge`'s settings: how the judge asks (`judge`, its endpoint `judge.llm`) and how verdicts become
    rewards (`reward`). A file holding judge fields alone is the `judge` section; a top-level `llm` is
    `judge.llm`."""

    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)

    @model_validator(mode="before")
    @classmethod
    def _file_shapes(cls, data: Any) -> Any:
        if isinstance(data, dict) and data and not {"judge", "reward", "llm"} & data.keys():
            data = {"judge": data}
        return move_keys(data, {"llm": "judge.llm"})


def judge_command(
    trajectories: Annotated[Path, typer.Argument(exists=True, help="Trajectories (JSONL of cm2 Trajectory records).")],
    dialogues: Annotated[Path, typer.Argument(exists=True, help="The reference dialogues with their checklists.")],
    out: Annotated[Path, typer.Argument(help="Output JSONL, appended to; rollouts already in it are skipped.")],
    config: ConfigFile = None,
    sets: Sets = None,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Write groups with unobtainable verdicts (scored under reward.unknown) instead of leaving them "
            "for a rerun, and exit 0.",
        ),
    ] = False,
    show: Annotated[int, typer.Option(min=0, help="Print the per-turn tables of this many trajectories.")] = 3,
) -> None:
    """Judge TRAJECTORIES against the checklists of DIALOGUES; write verdicts, rewards and advantages to OUT.

    A group with a verdict the judge could not give (endpoint down, refused, timing out) is not written and
    the command exits 1; running it again retries just those groups.
    """
    from rich.console import Console
    from rich.markup import escape

    from cm2.build import build_client, build_judge
    from cm2.cli.guard import check_paths, print_problems
    from cm2.data.errors import RecordError

    console, errors = Console(), Console(stderr=True)
    settings = command_config(JudgeFilesConfig, config, sets)
    judge_config, reward_config = settings.judge, settings.reward
    if "cache_path" not in judge_config.model_fields_set:
        judge_config.cache_path = out.with_name(out.name + ".verdicts.sqlite")
    check_paths([trajectories, dialogues, config], files=[out, judge_config.cache_path])
    llm_config = judge_config.llm
    if llm_config is None:
        raise ValueError(f"no judge endpoint: {_NO_ENDPOINT}")

    async def run() -> RunSummary:
        client = build_client(llm_config, "judge")
        judge = build_judge(judge_config, client=client)
        try:
            return await _run_with_progress(
                trajectories, dialogues, out, judge, reward_config, show, console, errors, allow_partial
            )
        finally:
            judge.close()
            closer = getattr(client, "aclose", None)
            if closer is not None:
                await closer()

    try:
        summary = asyncio.run(run())
    except RecordError:  # bad input, nothing judged: one line and exit 1 (see cm2.cli.guard)
        raise
    except (ValueError, OSError) as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    print_problems(summary.rejected, 10, "left out")
    _print_summary(console, summary, out)
    if summary.unfinished:
        errors.print(f"[red]error:[/] {escape(unfinished_line(summary))}", soft_wrap=True, highlight=False)
        raise typer.Exit(1)


def unfinished_line(summary: RunSummary) -> str:
    """One line on the rollouts left unfinished, why, and what to do."""
    return (
        f"{summary.unfinished} rollout(s) in {summary.unfinished_groups} group(s) not written: some judge verdicts "
        f"could not be obtained (first: {_clip(summary.first_unavailable or '?', 300)}); run again to retry them, "
        "or pass --allow-partial to write them scored under reward.unknown"
    )


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _run_with_progress(
    trajectories: Path,
    dialogues: Path,
    out: Path,
    judge: ChecklistJudge,
    reward: RewardConfig,
    show: int,
    console: Console,
    errors: Console,
    allow_partial: bool = False,
) -> RunSummary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cm2.judging.runner import judge_files
    from cm2.judging.table import LEGEND, turn_tables

    shown = 0
    with Progress(
        TextColumn("judging"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=errors
    ) as progress:
        task = progress.add_task("judging", total=None)

        def on_group(records: list[JudgedRecord], dialogue: Dialogue) -> None:
            nonlocal shown
            for record in records:
                if shown < show:
                    for table in turn_tables(record, dialogue):
                        progress.console.print(table)
                    progress.console.print(
                        f"reward {record.reward:.3f}"
                        + (f" · advantage {record.advantage:+.3f}" if record.advantage is not None else ""),
                        highlight=False,
                    )
                    shown += 1

        summary = await judge_files(
            trajectories,
            dialogues,
            out,
            judge,
            reward,
            on_start=lambda total: progress.update(task, total=total),
            on_trajectory=lambda _: progress.advance(task),
            on_group=on_group,
            allow_partial=allow_partial,
        )
    if shown:
        console.print(LEGEND, highlight=False)
    return summary


def _print_summary(console: Console, summary: RunSummary, out: Path) -> None:
    usage = summary.usage
    partial = f"\n{summary.partial} rollout(s) written with unavailable verdicts (--allow-partial)"
    mean = "n/a" if summary.mean_reward is None else f"{summary.mean_reward:.3f}"
    console.print(
        f"wrote {summary.written} trajectories ({summary.groups} group(s)) to {out}; skipped {summary.skipped} "
        f"already there · mean reward {mean} ({summary.valid} valid)\n"
        f"judge: {usage.calls} calls, {usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens, "
        f"${usage.cost_usd:.4f} · verdicts: {usage.llm} asked, {usage.cache_hits} cached, {usage.check} by check, "
        f"{usage.tool_error} tool errors, {usage.carried} carried, {usage.unavailable} unavailable"
        + (partial if summary.partial else ""),
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add `cm2 judge`."""
    app.command("judge")(judge_command)
