"""`cm2 judge`: score trajectory files against their dialogues' checklists."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from cm2.judge import ChecklistJudge, JudgeConfig
    from cm2.judging.records import JudgedRecord
    from cm2.judging.runner import RunSummary
    from cm2.llm.config import LLMConfig
    from cm2.reward import RewardConfig
    from cm2.schema import Dialogue


class ModeName(StrEnum):
    per_item = "per_item"
    batched = "batched"
    released = "released"


class LevelName(StrEnum):
    trajectory = "trajectory"
    turn = "turn"
    step = "step"


class ScaleName(StrEnum):
    one = "one"
    std = "std"


class UnknownName(StrEnum):
    false = "false"
    drop = "drop"


def _sections(config: Path | None) -> dict[str, Any]:
    """The `judge`, `llm` and `reward` sections of the config file (a flat file is the judge section)."""
    import yaml

    if config is None:
        return {}
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{config}: expected a mapping with judge/llm/reward sections")
    if not {"judge", "llm", "reward"} & data.keys():
        return {"judge": data}
    unknown = sorted(data.keys() - {"judge", "llm", "reward"})
    if unknown:
        raise ValueError(f"{config}: unknown section {unknown[0]!r} (expected judge, llm, reward)")
    return data


def _llm_config(
    section: dict[str, Any] | None, base_urls: list[str], model: str | None, key_env: str | None
) -> LLMConfig:
    from cm2.llm.config import LLMConfig

    data = dict(section or {})
    if base_urls:
        data["base_urls"] = base_urls
    if model:
        data["model"] = model
    if key_env is not None:
        data["api_key_env"] = key_env or None
    if "model" not in data:
        raise ValueError("no judge model: pass --llm-model (and --llm-base-url) or an `llm` section in --config")
    return LLMConfig.model_validate(data)


def judge_command(
    trajectories: Annotated[Path, typer.Argument(exists=True, help="Trajectories (JSONL of cm2 Trajectory records).")],
    dialogues: Annotated[Path, typer.Argument(exists=True, help="The reference dialogues with their checklists.")],
    out: Annotated[Path, typer.Argument(help="Output JSONL, appended to; rollouts already in it are skipped.")],
    mode: Annotated[
        ModeName | None, typer.Option(help="per_item, batched, or released (every item every step) [default: batched].")
    ] = None,
    votes: Annotated[int | None, typer.Option(min=1, help="Answers per item; the majority decides.")] = None,
    level: Annotated[
        LevelName | None, typer.Option(help="Where advantages are assigned [default: trajectory].")
    ] = None,
    scale: Annotated[
        ScaleName | None, typer.Option(help="Divide by the group's std (std) or by 1 (one) [default: one].")
    ] = None,
    unknown: Annotated[
        UnknownName | None,
        typer.Option(
            help="With --allow-partial, an unobtainable verdict drops the rollout or counts as false [default: drop]."
        ),
    ] = None,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Write groups with unobtainable verdicts (scored under --unknown) instead of leaving them for a "
            "rerun, and exit 0.",
        ),
    ] = False,
    llm_base_url: Annotated[
        list[str] | None,
        typer.Option(metavar="URL", help="OpenAI-compatible base URL of the judge (repeatable)."),
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Judge model name.")] = None,
    llm_api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the judge's API key ('' for none).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="YAML with judge / llm / reward sections.")
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="Verdict cache (SQLite); default: OUT with suffix .verdicts.sqlite.")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Keep verdicts in memory only.")] = False,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Judge calls in flight at once.")] = None,
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
    from cm2.reward import RewardConfig

    console, errors = Console(), Console(stderr=True)
    try:
        sections = _sections(config)
        judge_config = _judge_config(sections.get("judge"), mode, votes, concurrency, out, cache, no_cache)
        check_paths([trajectories, dialogues, config], files=[out, judge_config.cache_path])
        llm_config = _llm_config(sections.get("llm"), llm_base_url or [], llm_model, llm_api_key_env)
        if not judge_config.model:
            judge_config.model = llm_config.model
        flags = {"level": level, "scale": scale, "unknown": unknown}
        reward_config = RewardConfig.model_validate(
            {**(sections.get("reward") or {}), **{k: v.value for k, v in flags.items() if v is not None}}
        )
    except (ValueError, OSError) as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None

    async def run() -> RunSummary:
        client = build_client(llm_config, "judge")
        judge = build_judge(judge_config, llm_config, client=client)
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
        "or pass --allow-partial to write them scored under --unknown"
    )


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _judge_config(
    section: dict[str, Any] | None,
    mode: ModeName | None,
    votes: int | None,
    concurrency: int | None,
    out: Path,
    cache: Path | None,
    no_cache: bool,
) -> JudgeConfig:
    from cm2.judge import JudgeConfig

    data = dict(section or {})
    for name, value in (("mode", mode.value if mode else None), ("votes", votes), ("concurrency", concurrency)):
        if value is not None:
            data[name] = value
    if no_cache:
        data["cache_path"] = None
    elif cache is not None:
        data["cache_path"] = cache
    else:
        data.setdefault("cache_path", out.with_name(out.name + ".verdicts.sqlite"))
    return JudgeConfig.model_validate(data)


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
