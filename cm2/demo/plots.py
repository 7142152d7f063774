"""Figures of the learning experiment: held-out scores per model and RL reward per training step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cm2.demo.summary import COLUMNS


def plot_heldout(scores: list[dict[str, Any]], path: Path) -> Path:
    """Grouped bars: each metric (exact calls, BFCL checker, checklist score) for each evaluated model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [str(row["model"]) for row in scores]
    width = 0.8 / len(COLUMNS)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(models) + 2), 3.6))
    for k, (key, title) in enumerate(COLUMNS):
        xs = [i + (k - (len(COLUMNS) - 1) / 2) * width for i in range(len(models))]
        bars = ax.bar(xs, [100 * float(row[key]) for row in scores], width, label=title)
        ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    ax.set_xticks(range(len(models)), models)
    ax.set_ylabel("% (held-out, demo split)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("Held-out BFCL demo split")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_rewards(rewards: dict[str, list[float]], path: Path) -> Path:
    """Mean trajectory reward of each optimizer step, one line per RL run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for name, values in rewards.items():
        if values:
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("mean checklist reward R")
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("GRPO with checklist rewards")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
