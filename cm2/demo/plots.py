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
    """Grouped bars: each metric (exact calls, BFCL checker, checklist score) for each evaluated model."""
    models = [str(row["model"]) for row in scores]
    width = 0.8 / len(COLUMNS)
    figure, axes = _figure(max(5.0, 1.3 * len(models) + 2), 3.6)
    for k, (key, title) in enumerate(COLUMNS):
        xs = [i + (k - (len(COLUMNS) - 1) / 2) * width for i in range(len(models))]
        bars = axes.bar(xs, [100 * float(row[key]) for row in scores], width, label=title)
        axes.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    axes.set_xticks(range(len(models)), models)
    axes.set_ylabel("% (held-out, demo split)")
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
