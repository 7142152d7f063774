"""Histogram PNGs for a `StatsReport` (matplotlib, Agg backend, imported only when plotting)."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

from cm2.data.atomic import atomic_file
from cm2.data.stats import MetricSummary, StatsReport


def plot_metric(name: str, summary: MetricSummary, path: str | os.PathLike[str]) -> Path:
    """Draw one metric's histogram with its mean, median and p90 marked; written atomically as PNG."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    edges, counts = summary.histogram.edges, summary.histogram.counts
    if counts:
        widths = [right - left for left, right in pairwise(edges)]
        axes.bar(edges[:-1], counts, width=widths, align="edge", color="#4c72b0", edgecolor="white", linewidth=0.5)
        for value, style, label in (
            (summary.mean, "-", "mean"),
            (summary.median, "--", "median"),
            (summary.p90, ":", "p90"),
        ):
            if value is not None:
                axes.axvline(value, color="#c44e52", linestyle=style, linewidth=1.2, label=f"{label} {value:,.1f}")
        axes.legend(frameon=False, fontsize="small")
    else:
        axes.text(0.5, 0.5, "no dialogues", ha="center", va="center", transform=axes.transAxes)
    axes.set_title(f"{summary.label} (n={summary.count:,})")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(name)
    axes.set_ylabel("dialogues")
    target = Path(path)
    with atomic_file(target) as tmp:
        figure.savefig(tmp, format="png")
    return target


def write_histograms(report: StatsReport, outdir: str | os.PathLike[str]) -> list[Path]:
    """One `<metric>.png` per metric in `outdir`."""
    directory = Path(outdir)
    return [plot_metric(name, summary, directory / f"{name}.png") for name, summary in report.metrics.items()]
