"""Totals tables of the report: one row per quantity, one column per run, None where nothing was recorded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cm2.report.run_dir import RunData
from cm2.report.series import StepStats, judge_usage, simulator_usage
from cm2.report.smoothing import moving_average


@dataclass(frozen=True)
class Row:
    name: str
    values: list[str | None]


@dataclass(frozen=True)
class RunTotals:
    """One run with its per-step figures."""

    run: RunData
    rows: Sequence[StepStats]


def _int(value: float) -> str:
    return f"{value:,.0f}"


def _sum(rows: Sequence[StepStats], value: Callable[[StepStats], float | None]) -> float | None:
    values = [v for v in (value(r) for r in rows) if v is not None]
    return sum(values) if values else None


def _fmt(value: float | None, style: Callable[[float], str] = _int) -> str | None:
    return None if value is None else style(value)


def _recorded_steps(run: RunData) -> bool:
    return any("steps" in t.metadata for t in run.trajectories)


def cost_rows(runs: Sequence[RunTotals], smooth: int) -> list[Row]:
    """Totals over each run: rollouts, tokens, verdicts by source, tool answers by source, LLM calls and dollars."""

    def row(name: str, value: Callable[[RunTotals], str | None]) -> Row:
        return Row(name, [value(r) for r in runs])

    def usage(role: str, field: str, style: Callable[[float], str] = _int) -> Callable[[RunTotals], str | None]:
        def value(totals: RunTotals) -> str | None:
            def one(s: StepStats) -> float | None:
                part = s.judge if role == "judge" else s.simulator
                return None if part is None else float(getattr(part, field))

            return _fmt(_sum(totals.rows, one), style)

        return value

    def verdicts(source: str) -> Callable[[RunTotals], str | None]:
        def value(totals: RunTotals) -> str | None:
            recorded = any(t.verdicts for t in totals.run.trajectories)
            return _int(sum(s.verdicts.get(source, 0) for s in totals.rows)) if recorded else None

        return value

    def tools(source: str) -> Callable[[RunTotals], str | None]:
        def value(totals: RunTotals) -> str | None:
            return (
                _int(sum(s.tool_results.get(source, 0) for s in totals.rows)) if _recorded_steps(totals.run) else None
            )

        return value

    def dollars(totals: RunTotals) -> str | None:
        parts = [u.cost_usd for s in totals.rows for u in (s.judge, s.simulator) if u is not None]
        return f"${sum(parts):,.4f}" if parts else None

    def final_reward(totals: RunTotals) -> str | None:
        values = [s.reward_mean for s in totals.rows]
        if not any(v is not None for v in values):
            return None
        return f"{moving_average(values, smooth)[-1]:.3f}"

    def step_time(totals: RunTotals) -> str | None:
        _, values = totals.run.metrics.series("step_time")
        return f"{sum(values) / len(values):.2f} s" if values else None

    money = "${:,.4f}".format
    return [
        row("rollouts", lambda t: _int(len(t.run.trajectories))),
        row(f"final reward (moving average, {smooth} steps)", final_reward),
        row("early-stop rate", lambda t: _fmt(_mean_rate(t.rows), "{:.1%}".format)),
        row("policy tokens generated", lambda t: _fmt(_sum(t.rows, lambda s: s.policy_tokens))),
        row("context tokens (prompt + completion)", lambda t: _fmt(_sum(t.rows, lambda s: s.context_tokens))),
        row("verdicts asked of the judge model", verdicts("llm")),
        row("verdicts decided by a check", verdicts("check")),
        row("verdicts false after a tool error", verdicts("tool_error")),
        row("verdicts unavailable", verdicts("unavailable")),
        row("tool answers replayed", tools("replayed")),
        row("tool answers simulated", tools("simulated")),
        row("tool answers executed", tools("executed")),
        row("tool answers that were errors", tools("error")),
        row("judge calls", usage("judge", "calls")),
        row("judge prompt + completion tokens", _judge_tokens),
        row("judge dollars", usage("judge", "cost_usd", money)),
        row("simulator calls", usage("simulator", "calls")),
        row("simulator dollars", usage("simulator", "cost_usd", money)),
        row("judge + simulator dollars", dollars),
        row("mean step time (trainer log)", step_time),
    ]


def _mean_rate(rows: Sequence[StepStats]) -> float | None:
    total = sum(r.rollouts for r in rows)
    return sum(r.early_stop_rate * r.rollouts for r in rows) / total if total else None


def _judge_tokens(totals: RunTotals) -> str | None:
    values = [s.judge.prompt_tokens + s.judge.completion_tokens for s in totals.rows if s.judge is not None]
    return _int(sum(values)) if values else None


def coverage_notes(run: RunData) -> list[str]:
    """Say which quantities only some rollouts record, and what the trainer does not log at all."""
    notes = []
    total = len(run.trajectories)
    for name, read in (("judge usage", judge_usage), ("simulator usage", simulator_usage)):
        count = sum(read(t) is not None for t in run.trajectories)
        if 0 < count < total:
            notes.append(f"{run.label}: {name} recorded by {count} of {total} rollouts; totals cover those only")
        elif total and count == 0:
            notes.append(f"{run.label}: {name} (calls, tokens, dollars) not recorded by the rollouts")
    tokens = sum(t.tokens is not None for t in run.trajectories)
    if total and tokens == 0:
        notes.append(f"{run.label}: policy tokens not recorded (no token records in the rollouts)")
    return notes
