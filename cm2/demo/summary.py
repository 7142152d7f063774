"""The demo's closing tables: held-out scores per model and the time each stage took."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cm2.benchmarks.bfcl.split import SPLIT_RULE
from cm2.data.atomic import atomic_file
from cm2.demo.stages import StageRecord, read_record

if TYPE_CHECKING:
    from cm2.demo.pipeline import DemoResult

COLUMNS = (
    ("exact_call_accuracy", "exact calls / turn"),
    ("state_match_accuracy", "state match / turn"),
    ("bfcl_accuracy", "BFCL checker"),
    ("checklist_score", "checklist score"),
)
INTERVAL_KEYS = {
    "exact_call_accuracy": "exact_calls",
    "state_match_accuracy": "state_match",
    "bfcl_accuracy": "bfcl_checker",
    "checklist_score": "checklist_score",
}
NOTE = (
    "Held-out = the demo split's held-out entries (" + SPLIT_RULE + ") Every turn of each evaluated dialogue "
    "is played. Exact calls: share of reference turns whose calls the model matched; state match: share of "
    "turns after which BFCL's backends hold the ground truth's state; BFCL checker: share of dialogues "
    "bfcl_eval's multi-turn checker passes; checklist score: mean share of the checklist weight earned. "
    "[brackets]: 95% interval (bootstrap over dialogues; Wilson for the BFCL checker)."
)


def cell(row: dict[str, Any], key: str, bounds: str = ".1f") -> str:
    """A score as `12.5% [8.1, 17.0]` (the 95% interval when the row has one)."""
    text = f"{100 * float(row.get(key, 0.0)):.1f}%"
    interval = (row.get("intervals") or {}).get(INTERVAL_KEYS[key])
    if interval:
        text += f" [{100 * interval['low']:{bounds}}, {100 * interval['high']:{bounds}}]"
    return text


def stage_records(out: Path, order: list[str]) -> list[StageRecord]:
    """The finished stages named in `order` (pipeline order) that exist under `out`."""
    return [r for name in order if (r := read_record(out / name)) is not None]


def markdown(scores: list[dict[str, Any]], records: list[StageRecord]) -> str:
    """The summary as markdown: scores per model, then stage times."""
    lines = ["# cm2 demo", "", "| model | " + " | ".join(title for _, title in COLUMNS) + " | dialogues |"]
    lines.append("|" + " --- |" * (len(COLUMNS) + 2))
    for row in scores:
        cells = [cell(row, key) for key, _ in COLUMNS]
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
    from rich.markup import escape
    from rich.table import Table

    scores = Table(title="held-out evaluation (demo split; not BFCL leaderboard numbers)")
    scores.add_column("model")
    for _, title in COLUMNS:
        scores.add_column(title, justify="right")
    scores.add_column("dialogues", justify="right")
    for row in result.scores:
        cells = [escape(cell(row, key, bounds=".0f")) for key, _ in COLUMNS]
        scores.add_row(str(row["model"]), *cells, str(row["dialogues"]))
    console.print(scores)
    if result.scores:
        first = result.scores[0]
        turns = "every turn" if first.get("max_turns") is None else f"the first {first['max_turns']} turns"
        console.print(
            f"[dim]{turns} of each held-out dialogue ({first['dialogues']} dialogue(s), {first['turns']} turns), "
            f"at most {first.get('max_steps_per_turn', '?')} steps per turn (no reference turn needs more); checklist "
            f"items: {first.get('checklist_items', 'all')}; \\[brackets]: 95% intervals[/]"
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
