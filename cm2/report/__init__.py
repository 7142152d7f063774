"""See what happened: reward curves, cost reports and an HTML trajectory viewer with every verdict.

    build_report(["runs/rl"], "runs/rl/report")           # report.html + PNGs, from the run directory alone
    write_view("judged.jsonl", "view.html", dialogues="rl.jsonl", trajectories="trajectories.jsonl")

Pages are self-contained (inline CSS, JS, data and images); the viewer renders every string as text.
"""

from cm2.report.records import LoadedRecords, load_records
from cm2.report.report import ReportConfig, ReportResult, build_report
from cm2.report.run_dir import RunData, assign_steps, load_run
from cm2.report.scoring import score_all
from cm2.report.series import StepStats, run_series
from cm2.report.smoothing import moving_average
from cm2.report.view import ViewResult, write_view
from cm2.report.view_data import ViewSource, build_view
from cm2.report.view_models import ViewData

__all__ = [
    "LoadedRecords",
    "ReportConfig",
    "ReportResult",
    "RunData",
    "StepStats",
    "ViewData",
    "ViewResult",
    "ViewSource",
    "assign_steps",
    "build_report",
    "build_view",
    "load_records",
    "load_run",
    "moving_average",
    "run_series",
    "score_all",
    "write_view",
]
