"""The demo's closing tables: held-out scores per model and the time each stage took."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cm2.data.atomic import atomic_file
from cm2.demo.split import SPLIT_RULE
from cm2.demo.stages import StageRecord, read_record

if TYPE_CHECKING:
    from cm2.demo.pipeline import DemoResult

COLUMNS = (
    ("exact_call_accuracy", "exact calls / turn"),
    ("bfcl_accuracy", "BFCL checker"),
    ("checklist_score", "checklist score"),
)
NOTE = (
    "Held-out = the demo split's held-out entries (" + SPLIT_RULE + ") "
    "Exact calls: share of reference turns whose calls the model matched; BFCL checker: share of dialogues "
    "bfcl_eval's multi-turn checker passes on the evaluated turns; checklist score: mean trajectory reward R."
)


def stage_records(out: Path, order: list[str]) -> list[StageRecord]:
    """The finished stages named in `order` (pipeline order) that exist under `out`."""
    return [r for name in order if (r := read_record(out / name)) is not None]


def markdown(scores: list[dict[str, Any]], records: list[StageRecord]) -> str:
    """The summary as markdown: scores per model, then stage times."""
    lines = ["# cm2 demo", "", "| model | " + " | ".join(title for _, title in COLUMNS) + " | dialogues |"]
    lines.append("|" + " --- |" * (len(COLUMNS) + 2))
    for row in scores:
        cells = [f"{100 * float(row[key]):.1f}%" for key, _ in COLUMNS]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + f" | {row['dialogues']} |")
    lines += ["", NOTE, "", "| stage | seconds |", "| --- | --- |"]
    lines += [f"| {r.name} | {r.seconds:.0f} |" for r in records]
    lines.append(f"| total | {sum(r.seconds for r in records):.0f} |")
    return "\n".join(lines) + "\n"


def write_summary(out: Path, folder: Path, order: list[str]) -> Path:
    """`summary.md` and `summary.json` in `folder` from the finished stages under `out` (named in `order`)."""
    records = stage_records(out, order)
    scores: list[dict[str, Any]] = next((r.outputs.get("scores", []) for r in records if r.name == "eval"), [])
    data = {"scores": scores, "stages": {r.name: r.seconds for r in records}, "note": NOTE}
    with atomic_file(folder / "summary.json") as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    path = folder / "summary.md"
    with atomic_file(path) as tmp:
        tmp.write_text(markdown(scores, records), encoding="utf-8")
    return path


def print_summary(result: DemoResult, console: Any) -> None:
    """The final tables on `console` and where the report is."""
    from rich.table import Table

    scores = Table(title="held-out evaluation (demo split; not BFCL leaderboard numbers)")
    scores.add_column("model")
    for _, title in COLUMNS:
        scores.add_column(title, justify="right")
    scores.add_column("dialogues", justify="right")
    for row in result.scores:
        cells = [f"{100 * float(row[key]):.1f}%" for key, _ in COLUMNS]
        scores.add_row(str(row["model"]), *cells, str(row["dialogues"]))
    console.print(scores)
    cut = [row for row in result.scores if row.get("truncated")]
    if cut:
        console.print(
            f"[dim]exact calls and BFCL's checker cover the first {cut[0]['max_turns']} turns of each dialogue "
            f"({cut[0]['truncated']} of {cut[0]['dialogues']} have more; eval.max_turns)[/]"
        )
    times = Table(title="stages")
    times.add_column("stage")
    times.add_column("this run", justify="right")
    times.add_column("seconds", justify="right")
    for stage in result.stages:
        times.add_row(stage.name, "skipped (done)" if stage.skipped else "ran", f"{stage.record.seconds:.0f}")
    times.add_row("total (this run)", "", f"{result.seconds:.0f}")
    console.print(times)
    if result.report is not None:
        console.print(f"report → {result.report}", soft_wrap=True)
        console.print(f"summary → {result.report.parent / 'summary.md'}", soft_wrap=True)
