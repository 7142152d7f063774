"""Figures of the learning experiment: held-out scores per model and RL reward per training step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cm2.demo.summary import COLUMNS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=120, layout="constrained")
    return figure, figure.add_subplot()


def _save(figure: Figure, axes: Axes, title: str, path: Path) -> Path:
    from cm2.report.plots import save_png

    axes.legend(fontsize=8, frameon=False)
    axes.set_title(title)
    save_png(figure, path)
    return path


def plot_heldout(scores: list[dict[str, Any]], path: Path) -> Path:
    """Grouped bars: each metric for each evaluated model, with its 95% interval when recorded."""
    from cm2.demo.summary import INTERVAL_KEYS

    models = [str(row["model"]) for row in scores]
    width = 0.8 / len(COLUMNS)
    figure, axes = _figure(max(5.0, 1.6 * len(models) + 2), 3.6)
    for k, (key, title) in enumerate(COLUMNS):
        xs = [i + (k - (len(COLUMNS) - 1) / 2) * width for i in range(len(models))]
        values = [100 * float(row.get(key, 0.0)) for row in scores]
        found = [(row.get("intervals") or {}).get(INTERVAL_KEYS[key]) for row in scores]
        intervals: list[dict[str, float]] = [i for i in found if i]
        errors = None
        if len(intervals) == len(values):
            errors = [
                [v - 100 * i["low"] for v, i in zip(values, intervals, strict=True)],
                [100 * i["high"] - v for v, i in zip(values, intervals, strict=True)],
            ]
        bars = axes.bar(xs, values, width, label=title, yerr=errors, capsize=2, error_kw={"linewidth": 0.8})
        axes.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    axes.set_xticks(range(len(models)), models)
    axes.set_ylabel("% (held-out, demo split; 95% CI)")
    axes.set_ylim(0, 100)
    return _save(figure, axes, "Held-out BFCL demo split", path)


def plot_rewards(rewards: dict[str, list[float]], path: Path) -> Path:
    """Mean trajectory reward of each optimizer step, one line per RL run."""
    figure, axes = _figure(5.5, 3.4)
    for name, values in rewards.items():
        if values:
            axes.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("mean checklist reward R")
    return _save(figure, axes, "GRPO with checklist rewards", path)


def plot_probe(probes: dict[str, dict[str, float]], path: Path) -> Path:
    """The probe set's mean reward (fixed dialogues, greedy) at each probed step, one line per RL run."""
    figure, axes = _figure(5.5, 3.4)
    for name, by_step in probes.items():
        if by_step:
            steps = sorted(by_step, key=int)
            axes.plot([int(s) for s in steps], [by_step[s] for s in steps], marker="o", markersize=3, label=name)
    axes.set_xlabel("optimizer step (0 = the SFT model)")
    axes.set_ylabel("probe reward R (greedy)")
    return _save(figure, axes, "Probe set during GRPO", path)
