"""`cm2 judge` as one call: its settings, the judge built over its endpoint (and closed), and the lines it
reports at the end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from cm2.config import YamlConfig, move_keys
from cm2.judge.config import JudgeConfig
from cm2.judging.records import JudgedRecord
from cm2.judging.runner import RunSummary, judge_files
from cm2.reward import RewardConfig
from cm2.schema import Dialogue

NO_ENDPOINT = "set judge.llm (--set judge.llm.model=NAME --set judge.llm.base_url=URL, or `llm:` in --config)"


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

    def for_output(self, out: Path) -> JudgeFilesConfig:
        """These settings with the verdict cache beside `out` (OUT.verdicts.sqlite) unless one was set."""
        if "cache_path" in self.judge.model_fields_set:
            return self
        judge = self.judge.model_copy(update={"cache_path": out.with_name(out.name + ".verdicts.sqlite")})
        return self.model_copy(update={"judge": judge})


def judge_with_config(
    settings: JudgeFilesConfig,
    trajectories: Path,
    dialogues: Path,
    out: Path,
    *,
    on_start: Callable[[int], None] | None = None,
    on_trajectory: Callable[[Any], None] | None = None,
    on_group: Callable[[list[JudgedRecord], Dialogue], None] | None = None,
    allow_partial: bool = False,
) -> RunSummary:
    """`judge_files` with the judge `settings` name, over a client of its endpoint closed at the end; raises
    ValueError when no endpoint is set."""
    from cm2.build import build_client, build_judge

    llm = settings.judge.llm
    if llm is None:
        raise ValueError(f"no judge endpoint: {NO_ENDPOINT}")

    async def run() -> RunSummary:
        client = build_client(llm, "judge")
        judge = build_judge(settings.judge, client=client)
        try:
            return await judge_files(
                trajectories,
                dialogues,
                out,
                judge,
                settings.reward,
                on_start=on_start,
                on_trajectory=on_trajectory,
                on_group=on_group,
                allow_partial=allow_partial,
            )
        finally:
            judge.close()
            closer = getattr(client, "aclose", None)
            if closer is not None:
                await closer()

    return asyncio.run(run())


def summary_lines(summary: RunSummary, out: Path) -> list[str]:
    """What a run wrote and spent."""
    usage = summary.usage
    mean = "n/a" if summary.mean_reward is None else f"{summary.mean_reward:.3f}"
    lines = [
        f"wrote {summary.written} trajectories ({summary.groups} group(s)) to {out}; skipped {summary.skipped} "
        f"already there · mean reward {mean} ({summary.valid} valid)",
        f"judge: {usage.calls} calls, {usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens, "
        f"${usage.cost_usd:.4f} · verdicts: {usage.llm} asked, {usage.cache_hits} cached, {usage.check} by check, "
        f"{usage.tool_error} tool errors, {usage.carried} carried, {usage.unavailable} unavailable",
    ]
    if summary.partial:
        lines.append(f"{summary.partial} rollout(s) written with unavailable verdicts (--allow-partial)")
    return lines


def unfinished_line(summary: RunSummary) -> str:
    """One line on the rollouts left unfinished, why, and what to do."""
    first = " ".join((summary.first_unavailable or "?").split())
    first = first if len(first) <= 300 else first[:299] + "…"
    return (
        f"{summary.unfinished} rollout(s) in {summary.unfinished_groups} group(s) not written: some judge verdicts "
        f"could not be obtained (first: {first}); run again to retry them, "
        "or pass --allow-partial to write them scored under reward.unknown"
    )
