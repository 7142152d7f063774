"""PNG figures of one or several runs (matplotlib's object API on the Agg canvas; imported when plotting)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cm2.data.atomic import atomic_file
from cm2.report.smoothing import moving_average

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class Curve:
    """One line: a run's values of one quantity by training step (None: that step lacks it)."""

    label: str
    steps: Sequence[int]
    values: Sequence[float | None]
    color_index: int = 0
    dashed: bool = False

    @property
    def empty(self) -> bool:
        return not any(v is not None and np.isfinite(v) for v in self.values)


@dataclass(frozen=True)
class Panel:
    """One set of axes: a title, a y label and its curves."""

    title: str
    ylabel: str
    curves: Sequence[Curve]
    missing: str = NOT_RECORDED


def new_figure(rows: int, cols: int, width: float = 5.6, height: float = 3.2) -> Figure:
    """A figure of rows × cols panels with fixed margins in inches (cheaper than an automatic layout)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * cols, height * rows), dpi=100)
    total_width, total_height = width * cols, height * rows
    figure.subplots_adjust(
        left=0.8 / total_width,
        right=1 - 0.25 / total_width,
        bottom=0.55 / total_height,
        top=1 - 0.4 / total_height,
        wspace=0.28,
        hspace=0.42,
    )
    return figure


def draw_panel(axes: Axes, panel: Panel, smooth: int) -> None:
    """Raw values faint, the moving average solid; a panel without data says so."""
    from matplotlib.ticker import MaxNLocator

    axes.set_title(panel.title, fontsize="medium")
    axes.set_xlabel("training step")
    axes.set_ylabel(panel.ylabel)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    drawn = [curve for curve in panel.curves if not curve.empty]
    if not drawn:
        axes.text(0.5, 0.5, panel.missing, ha="center", va="center", transform=axes.transAxes, color="#777777")
        axes.set_xticks([])
        axes.set_yticks([])
        return
    for curve in drawn:
        color = COLORS[curve.color_index % len(COLORS)]
        raw = np.asarray([np.nan if v is None else v for v in curve.values], dtype=float)
        style = "--" if curve.dashed else "-"
        if smooth > 1 and len(raw) > 1:
            axes.plot(curve.steps, raw, style, color=color, alpha=0.25, linewidth=1.0)
            axes.plot(
                curve.steps, moving_average(curve.values, smooth), style, color=color, linewidth=1.8, label=curve.label
            )
        else:
            axes.plot(
                curve.steps,
                raw,
                style,
                color=color,
                linewidth=1.5,
                marker="." if len(raw) < 30 else None,
                label=curve.label,
            )
    axes.grid(alpha=0.3)
    axes.legend(frameon=False, fontsize="small")


def render(panels: Sequence[Panel], smooth: int, cols: int = 1) -> Figure:
    """A figure with one subplot per panel, `cols` per row."""
    rows = (len(panels) + cols - 1) // cols
    figure = new_figure(rows, cols)
    for index, panel in enumerate(panels):
        draw_panel(figure.add_subplot(rows, cols, index + 1), panel, smooth)
    return figure


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def save_png(figure: Figure, path: Path) -> bytes:
    """Write the figure atomically as PNG; returns the bytes (for embedding)."""
    data = png_bytes(figure)
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return data
