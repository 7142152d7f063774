"""`cm2 report`: one self-contained HTML page (plus the PNGs beside it) for one or several RL runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from cm2.data.atomic import atomic_file
from cm2.data.errors import no_usable_records
from cm2.report.dialogues import load_dialogues, run_dialogues_path
from cm2.report.figures import (
    RunCurves,
    cost_panels,
    episode_panels,
    monitor_panels,
    pass_rate_panels,
    reward_panels,
    trainer_panels,
)
from cm2.report.html import png_data_uri, render_report
from cm2.report.plots import Panel, render, save_png
from cm2.report.run_dir import RunData, load_run
from cm2.report.scoring import rollout_groups
from cm2.report.series import StepStats, run_series
from cm2.report.tables import Row, RunTotals, cost_rows, coverage_notes
from cm2.report.view_data import ViewSource, build_view
from cm2.report.view_models import ViewData
from cm2.schema import Dialogue, Trajectory


class ReportConfig(BaseModel):
    """How the report is drawn."""

    smooth: int = Field(default=10, ge=1, description="Moving-average window in training steps (1: none).")
    max_rollouts: int = Field(default=200, ge=0, description="Rollouts in the viewer: the latest whole groups.")
    max_chars: int = Field(default=20_000, ge=100, description="Longest text shown per message or tool result.")


@dataclass
class ReportResult:
    html: Path
    pngs: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rollouts_shown: int = 0


@dataclass(frozen=True)
class FigureSection:
    key: str
    title: str
    caption: str
    panels: list[Panel]
    cols: int
    missing: str = "nothing recorded"
    table: list[Row] | None = None
    src: str | None = None


def latest_groups(trajectories: Sequence[Trajectory], limit: int) -> list[int]:
    """Indices of the last whole groups of rollouts (file order) adding up to at least `limit`, or all."""
    picked: list[int] = []
    for members in reversed(rollout_groups(trajectories)):
        if len(picked) >= limit:
            break
        picked = members + picked
    return picked


def _labels(runs: Sequence[RunData]) -> list[str]:
    labels = [run.label for run in runs]
    return [
        f"{label} ({run.path.name})" if labels.count(label) > 1 else label
        for label, run in zip(labels, runs, strict=True)
    ]


def _viewer(
    runs: Sequence[RunData], labels: list[str], dialogues: list[dict[str, Dialogue]], options: ReportConfig
) -> ViewData:
    data = ViewData(title="trajectories")
    budget = options.max_rollouts // max(1, len(runs))
    for r, (run, label, known) in enumerate(zip(runs, labels, dialogues, strict=True)):
        picked = latest_groups(run.trajectories, budget)
        sources = [ViewSource(trajectory=run.trajectories[i], train_step=run.steps[i]) for i in picked]
        part = build_view(sources, known, run.reward, title=label, max_chars=options.max_chars)
        for view in part.rollouts:
            view.key, view.run = f"{r}-{view.key}", label
        data.rollouts.extend(part.rollouts)
        data.checklists.update(part.checklists)
        data.notes.extend(note for note in part.notes if note not in data.notes)
    return data


def _figures(
    curves: list[RunCurves], totals: list[RunTotals], smooth: int, have_dialogues: bool
) -> list[FigureSection]:
    window = f"faint: per step; solid: trailing moving average over {smooth} steps" if smooth > 1 else "per step"
    sections = [
        FigureSection(
            "rewards",
            "Reward",
            f"Mean trajectory reward R of each training step's rollouts ({window}).",
            reward_panels(curves),
            2,
        ),
        FigureSection(
            "episodes", "Early stops and turns reached", f"Per training step ({window}).", episode_panels(curves), 2
        ),
        FigureSection(
            "monitors",
            "Reward-hacking monitors",
            "How the rollouts behave, whatever they earned: a policy gaming its checklist calls more, runs into the "
            f"step limit instead of replying, or fails and garbles its calls ({window}).",
            monitor_panels(curves),
            3,
        ),
        FigureSection(
            "costs",
            "Calls, tokens and dollars",
            f"Per training step ({window}); the table sums whole runs. Only what the rollouts record is counted.",
            cost_panels(curves),
            2,
            table=cost_rows(totals, smooth),
        ),
    ]
    if have_dialogues:
        sections.append(
            FigureSection(
                "pass-rate",
                "Pass rate per checklist focus",
                f"Share of the items of reached turns satisfied by the end of their turn ({window}).",
                pass_rate_panels(curves),
                2,
            )
        )
    else:
        sections.append(
            FigureSection(
                "pass-rate", "Pass rate per checklist focus", "", [], 2, missing="needs the dialogues: pass --dialogues"
            )
        )
    trainer = trainer_panels(curves)
    sections.append(
        FigureSection(
            "trainer",
            "Trainer metrics",
            f"From the trainer's log ({window}).",
            trainer,
            3,
            missing="no trainer metrics recorded",
        )
    )
    return sections


def build_report(
    run_dirs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    dialogues: str | os.PathLike[str] | None = None,
    options: ReportConfig | None = None,
) -> ReportResult:
    """Write `out/report.html` and the PNG figures for the runs in `run_dirs`."""
    options = options or ReportConfig()
    out_dir = Path(out)
    runs = [load_run(path) for path in run_dirs]
    if not any(run.trajectories or run.metrics.steps for run in runs):
        notes = [note for run in runs for note in run.notes]
        raise no_usable_records(", ".join(map(str, run_dirs)), [("report", "; ".join(notes) or "empty run")])
    labels = _labels(runs)
    result = ReportResult(html=out_dir / "report.html")
    known: list[dict[str, Dialogue]] = []
    for run, label in zip(runs, labels, strict=True):
        result.notes.extend(f"{label}: {note}" for note in run.notes)
        path = dialogues or run_dialogues_path(run)
        uuids = {t.dialogue_uuid for t in run.trajectories}
        found, notes = (
            load_dialogues(path, uuids)
            if path is not None
            else ({}, [f"no dialogues: {run.path}/rl_config.json names none"])
        )
        known.append(found)
        result.notes.extend(f"{label}: {note}" for note in notes)
        if run.trajectories:
            result.notes.append(f"{label}: training step of each rollout {run.step_origin}")
        result.notes.extend(coverage_notes(run))
    series: list[list[StepStats]] = [
        run_series(run.trajectories, run.steps, found, run.reward) for run, found in zip(runs, known, strict=True)
    ]
    curves = [
        RunCurves(label, rows, run.metrics, i)
        for i, (label, rows, run) in enumerate(zip(labels, series, runs, strict=True))
    ]
    totals = [RunTotals(run, rows) for run, rows in zip(runs, series, strict=True)]
    figures = []
    for section in _figures(curves, totals, options.smooth, any(known)):
        src = None
        if section.panels:
            path = out_dir / f"{section.key}.png"
            src = png_data_uri(save_png(render(section.panels, options.smooth, section.cols), path))
            result.pngs.append(path)
        figures.append({**section.__dict__, "src": src})
    view = _viewer(runs, labels, known, options)
    result.rollouts_shown = len(view.rollouts)
    total = sum(len(run.trajectories) for run in runs)
    context = {
        "title": "cm2 report: " + ", ".join(labels),
        "subtitle": " · ".join(str(run.path) for run in runs),
        "runs": [_run_row(run, label, rows) for run, label, rows in zip(runs, labels, series, strict=True)],
        "notes": result.notes,
        "figures": figures,
        "viewer_caption": f"The latest {len(view.rollouts)} of {total} rollouts (whole groups), with every verdict.",
    }
    with atomic_file(result.html) as tmp:
        tmp.write_text(render_report(view, context), encoding="utf-8")
    return result


def _run_row(run: RunData, label: str, rows: list[StepStats]) -> dict[str, Any]:
    config = run.config
    return {
        "label": label,
        "path": str(run.path),
        "level": run.reward.level,
        "scale": run.reward.scale,
        "group_size": config.group_size or "–",
        "learning_rate": config.learning_rate if config.learning_rate is not None else "–",
        "steps": len(rows),
        "rollouts": len(run.trajectories),
        "step_origin": run.step_origin,
        "metric_sources": ", ".join(Path(s).name for s in run.metrics.sources) or "none",
    }
