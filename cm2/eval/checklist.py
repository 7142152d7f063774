"""Held-out checklist evaluation: run a policy on reference dialogues with cm2's episode runner (replayed
users, hybrid tool simulator, step-wise judge, early stop) and report checklist scores and cost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field

from cm2.config import YamlConfig
from cm2.data import JsonlAppender
from cm2.eval.checklist_metrics import rollout_metrics, summarize_scores
from cm2.eval.results import CategoryScore, CostReport, EvalResult, now
from cm2.judge.config import JudgeConfig
from cm2.llm import LLMConfig, UsageMeter, usage_key
from cm2.reward import RewardConfig
from cm2.rollout.episode import EpisodeConfig, EpisodeRunner, StepJudge
from cm2.rollout.policy import ChatPolicy, SamplingConfig, TokenPolicy
from cm2.schema import Dialogue, Trajectory
from cm2.tools import SimulatorConfig, ToolEnvironment
from cm2.tools.environments import simulator_factory

log = logging.getLogger("cm2.eval")
TRAJECTORIES = "checklist_trajectories.jsonl"


class ChecklistEvalConfig(YamlConfig):
    """`cm2 eval checklist`: the policy endpoint, the judge and tool simulator (each with its `llm`), how many
    rollouts, how concurrently, the episode limits and how rollouts are scored."""

    policy: LLMConfig | None = Field(default=None, description="The evaluated policy's endpoint (or --checkpoint).")
    judge: JudgeConfig = Field(
        default_factory=JudgeConfig, description="Without judge.llm only items with a `check` get verdicts."
    )
    simulator: SimulatorConfig = Field(
        default_factory=SimulatorConfig, description="Its `llm` defaults to the judge's endpoint."
    )
    rollouts: int = Field(default=1, ge=1, description="Rollouts per dialogue and checklist.")
    concurrency: int = Field(default=16, ge=1, description="Episodes run at once.")
    limit: int | None = Field(default=None, ge=1, description="Only the first N dialogues with checklists.")
    episode: EpisodeConfig = Field(default_factory=lambda: EpisodeConfig(sampling=SamplingConfig(max_new_tokens=2048)))
    reward: RewardConfig = Field(
        default_factory=RewardConfig, description="How rollouts are scored: the trained run's reward settings."
    )


def _key(uuid: str, checklist: int, rollout: int) -> str:
    return f"{uuid}:{checklist}:{rollout}"


async def evaluate_checklist(
    policy: ChatPolicy | TokenPolicy,
    dialogues: list[Dialogue],
    judge: StepJudge | None,
    settings: ChecklistEvalConfig,
    *,
    model: str,
    out_dir: str | Path,
    make_env: Callable[[Dialogue], ToolEnvironment] | None = None,
    meter: UsageMeter | None = None,
    config: dict[str, Any] | None = None,
) -> EvalResult:
    """Run every (dialogue, checklist, rollout) not yet in `<out_dir>/checklist_trajectories.jsonl` (each
    finished trajectory is appended at once, tagged with `model`), then score all of them.

    A rollout whose episode fails (the endpoint gave up, say) is logged, counted under `failed_rollouts`
    and left out of the scores; running again retries it. So is a rollout with a verdict the judge could
    not give (also counted under `unfinished_rollouts`): it is not written, so it never scores 0.
    """
    from tqdm import tqdm

    started = now()
    usable = [d for d in dialogues if d.checklists]
    if not usable:
        raise ValueError("no dialogue has a checklist: nothing to evaluate")
    by_uuid = {d.uuid: d for d in usable}
    runner = EpisodeRunner(policy, make_env or simulator_factory(None, settings.simulator), judge, settings.episode)
    path = Path(out_dir) / TRAJECTORIES
    done: dict[str, Trajectory] = {}
    failures: list[str] = []
    unfinished: list[str] = []
    with JsonlAppender(path) as appender:
        from cm2.data.jsonl import iter_jsonl

        for raw in iter_jsonl(path) if path.exists() else []:
            if raw.data is None or (raw.data.get("metadata") or {}).get("model") != model:
                continue
            trajectory = Trajectory.model_validate(raw.data)
            if trajectory.dialogue_uuid in by_uuid and not trajectory.unavailable_verdicts():
                done[_key(trajectory.dialogue_uuid, trajectory.checklist, trajectory.rollout)] = trajectory
        jobs = [
            (d, k, r)
            for d in usable
            for k in range(len(d.checklists))
            for r in range(settings.rollouts)
            if _key(d.uuid, k, r) not in done
        ]
        total = sum(len(d.checklists) for d in usable) * settings.rollouts
        progress = tqdm(total=total, initial=total - len(jobs), desc="checklist eval", unit="rollout")
        semaphore = asyncio.Semaphore(settings.concurrency)

        async def one(dialogue: Dialogue, checklist: int, rollout: int) -> None:
            key = _key(dialogue.uuid, checklist, rollout)
            async with semaphore:
                try:
                    with usage_key(key):
                        trajectory = await runner.run(
                            dialogue, checklist=checklist, rollout=rollout, group=f"{dialogue.uuid}:{checklist}"
                        )
                except Exception as exc:  # one failed episode must not sink the evaluation
                    log.warning("%s: episode failed: %s: %s", key, type(exc).__name__, exc)
                    failures.append(key)
                    progress.update(1)
                    return
            missing = [v for v in trajectory.verdicts if v.satisfied is None]
            if missing:
                why = f"turn {missing[0].turn}, step {missing[0].step}, item {missing[0].item}: {missing[0].reason}"
                log.warning("%s: %d judge verdict(s) unavailable, left for a rerun (first: %s)", key, len(missing), why)
                failures.append(key)
                unfinished.append(key)
                progress.update(1)
                return
            trajectory.metadata["model"] = model
            done[key] = trajectory
            appender.write(trajectory.dump())
            progress.update(1)

        try:
            await asyncio.gather(*(one(d, k, r) for d, k, r in jobs))
        finally:
            progress.close()
    scores = [rollout_metrics(by_uuid[t.dialogue_uuid], t, settings.reward) for t in done.values()]
    summary = summarize_scores(scores)
    categories = {
        "trajectory": CategoryScore(score=summary.trajectory, n=summary.n),
        "turn": CategoryScore(score=summary.turn, n=sum(len(s.turn_rewards) for s in scores)),
    }
    categories |= {f"pass:{name}": CategoryScore(score=rate, n=items) for name, (rate, items) in summary.focus.items()}
    return EvalResult(
        benchmark="checklist",
        model=model,
        categories=categories,
        overall=summary.trajectory,
        n=summary.n,
        metrics={
            **summary.metrics,
            "failed_rollouts": float(len(failures)),
            "unfinished_rollouts": float(len(unfinished)),
            "dialogues": float(len(usable)),
        },
        cost=CostReport.from_meter(meter) if meter is not None else CostReport(),
        config={**(config or {}), "settings": settings.model_dump(mode="json")},
        started_at=started,
        finished_at=now(),
        notes=[
            f"overall = mean trajectory score R = (1/L) Σ_t R_t over rollouts ({settings.reward.mode} mode, "
            "L = reference turns)",
            "pass:<focus> = share of reference items of that focus that earned their reward",
        ],
    )
