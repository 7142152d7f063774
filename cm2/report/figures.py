"""Which panels the report draws, from the runs' per-step figures and trainer metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cm2.report.metrics_log import MetricLog
from cm2.report.plots import Curve, Panel
from cm2.report.series import StepStats
from cm2.schema import FOCUS_VALUES

TRAINER_KEYS = ("loss", "kl", "entropy", "grad_norm", "learning_rate", "step_time")


@dataclass(frozen=True)
class RunCurves:
    """What the figures need of one run."""

    label: str
    rows: Sequence[StepStats]
    metrics: MetricLog
    color_index: int


def _curve(run: RunCurves, value: Callable[[StepStats], float | None], dashed: bool = False) -> Curve:
    return Curve(run.label, [r.step for r in run.rows], [value(r) for r in run.rows], run.color_index, dashed)


def _logged(run: RunCurves, key: str, dashed: bool = False) -> Curve:
    steps, values = run.metrics.series(key)
    return Curve(run.label, steps, list(values), run.color_index, dashed)


def reward_panels(runs: Sequence[RunCurves]) -> list[Panel]:
    """Training reward (from the rollouts, else the trainer's log) and the probe set's reward (the same train
    dialogues, greedy, every N steps: a learning curve without the noise of fresh batches; a run without a
    probe shows a logged eval_reward instead)."""
    training = []
    probe = []
    for run in runs:
        curve = _curve(run, lambda r: r.reward_mean)
        training.append(curve if not curve.empty else _logged(run, "reward"))
        probed = _logged(run, "probe_reward")
        probe.append(probed if not probed.empty else _logged(run, "eval_reward"))
    return [
        Panel("training reward (mean R of the step's rollouts)", "reward", training),
        Panel(
            "probe reward (fixed dialogues, greedy)",
            "reward",
            probe,
            missing="not recorded (probe.every_steps: 0, and no eval_reward in the trainer's log)",
        ),
    ]


def episode_panels(runs: Sequence[RunCurves]) -> list[Panel]:
    return [
        Panel(
            "early-stop rate (a required item failed)",
            "share of rollouts",
            [_curve(r, lambda s: s.early_stop_rate) for r in runs],
        ),
        Panel("turns reached", "turns per rollout", [_curve(r, lambda s: s.turns_reached) for r in runs]),
    ]


MONITORS = (
    ("calls_per_turn", "tool calls per turn", "calls"),
    ("step_limit_share", "turns cut at the step limit", "share of turns"),
    ("final_reply_share", "turns ending with a visible reply", "share of turns"),
    ("error_call_share", "tool calls answered with an error", "share of calls"),
    ("malformed_share", "malformed tool-call attempts", "share of attempts"),
    ("call_after_error_share", "failed calls followed by another call", "share of failed steps"),
    ("turns_reached_share", "turns reached of the reference's", "share of turns"),
)


def _monitor(row: StepStats, name: str) -> float | None:
    return None if row.monitors is None else getattr(row.monitors, name)


def monitor_panels(runs: Sequence[RunCurves]) -> list[Panel]:
    """Reward-hacking monitors per step, from the rollouts (else the trainer's logged `cm2/…` values)."""
    panels = []
    for name, title, ylabel in MONITORS:
        curves = []
        for run in runs:
            curve = _curve(run, lambda s, n=name: _monitor(s, n))  # type: ignore[misc]
            curves.append(curve if not curve.empty else _logged(run, f"cm2/{name}"))
        panels.append(Panel(title, ylabel, curves))
    return panels


def _usage_value(row: StepStats, role: str, field: str) -> float | None:
    usage = row.judge if role == "judge" else row.simulator
    return None if usage is None else float(getattr(usage, field))


def _dollars(row: StepStats) -> float | None:
    parts = [u.cost_usd for u in (row.judge, row.simulator) if u is not None]
    return sum(parts) if parts else None


def cost_panels(runs: Sequence[RunCurves]) -> list[Panel]:
    """Tokens, calls and dollars per step; recorded counts only (a panel with none says 'not recorded')."""
    return [
        Panel("policy tokens generated per step", "tokens", [_curve(r, lambda s: s.policy_tokens) for r in runs]),
        Panel(
            "verdicts asked of the judge model per step",
            "verdicts",
            [_curve(r, lambda s: s.verdicts.get("llm", 0) if s.verdicts else None) for r in runs],
        ),
        Panel("judge calls per step", "calls", [_curve(r, lambda s: _usage_value(s, "judge", "calls")) for r in runs]),
        Panel(
            "simulated tool results per step",
            "results",
            [_curve(r, lambda s: s.tool_results.get("simulated", 0) if s.tool_results else None) for r in runs],
        ),
        Panel(
            "simulator calls per step",
            "calls",
            [_curve(r, lambda s: _usage_value(s, "simulator", "calls")) for r in runs],
        ),
        Panel("judge + simulator dollars per step", "USD", [_curve(r, _dollars) for r in runs]),
    ]


def pass_rate_panels(runs: Sequence[RunCurves]) -> list[Panel]:
    """One panel per checklist focus: share of reached items satisfied by the end of their turn."""
    return [
        Panel(
            f"pass rate · {focus}",
            "share of items",
            [_curve(r, lambda s, f=focus: s.pass_rate.get(f)) for r in runs],  # type: ignore[misc]
            missing="no items with this focus (or no dialogues)",
        )
        for focus in FOCUS_VALUES
    ]


def trainer_panels(runs: Sequence[RunCurves]) -> list[Panel]:
    """The trainer's logged metrics that some run has."""
    present = {key for run in runs for key in run.metrics.names()}
    return [Panel(key, key, [_logged(run, key) for run in runs]) for key in TRAINER_KEYS if key in present]
