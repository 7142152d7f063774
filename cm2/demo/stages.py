"""Resumable stages: each writes into its own folder under OUT and is skipped on a rerun once finished.

A stage is finished when `OUT/<stage>/stage.json` exists (written last, atomically) and records the same
fingerprint as now. The fingerprint covers the stage's own settings and the fingerprints of the stages
before it, so changing a setting reruns that stage and everything after it, and nothing else. A stage that
can resume its own work (`clean=False`) picks up an unfinished run only when it was started with the same
fingerprint (`stage.started`); otherwise its folder is emptied first, as for every other stage.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from cm2.data.atomic import atomic_file

MARKER = "stage.json"
STARTED = "stage.started"


class StageRecord(BaseModel):
    """What `stage.json` holds: the fingerprint, when and how long it ran, and what it produced."""

    name: str
    fingerprint: str
    seconds: float
    finished_at: str
    outputs: dict[str, Any] = Field(default_factory=dict)


class StageUnfinished(RuntimeError):
    """A stage stopped short of its goal in a way a rerun carries on (an RL run that spent its time budget):
    no `stage.json` is written, its folder is kept, and the stages after it wait."""


@dataclass
class Stage:
    """One step of a pipeline. `run(folder)` does the work inside `folder` and returns its outputs (paths,
    counts, scores) as JSON-able values. With `clean`, an unfinished folder is emptied before running;
    otherwise the stage resumes from what it finds (it must be able to)."""

    name: str
    description: str
    settings: Any
    run: Callable[[Path], dict[str, Any]]
    clean: bool = True


@dataclass
class StageResult:
    name: str
    description: str
    skipped: bool
    record: StageRecord


def fingerprint(settings: Any, upstream: str) -> str:
    """A short hash of the settings (JSON) and the previous stages' fingerprint."""
    text = json.dumps(settings, sort_keys=True, default=str) + upstream
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_record(folder: Path) -> StageRecord | None:
    """The stage's record, or None when it never finished (or the record is unreadable)."""
    path = folder / MARKER
    if not path.is_file():
        return None
    try:
        return StageRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


StageStatus = Literal["done", "resumes", "restarts", "reruns", "runs"]

# What a run does with a stage, as `cm2 experiment --plan` prints it.
STATUS_TEXT: dict[str, str] = {
    "done": "done: skipped",
    "resumes": "resumes its unfinished run",
    "restarts": "settings changed since it was started: its unfinished run (checkpoints included) is discarded",
    "reruns": "settings changed since it finished: runs again",
    "runs": "runs",
}


def stage_status(folder: Path, expected: str, clean: bool) -> StageStatus:
    """What running a stage with fingerprint `expected` would do with what `folder` holds."""
    return _status(read_record(folder), folder, expected, clean)


def _status(done: StageRecord | None, folder: Path, expected: str, clean: bool) -> StageStatus:
    if done is not None:
        return "done" if done.fingerprint == expected else "reruns"
    started_as = folder / STARTED
    if clean or not started_as.is_file():
        return "runs"
    return "resumes" if started_as.read_text().strip() == expected else "restarts"


@dataclass
class StageRunner:
    """Runs stages in order under `out`, printing a header per stage on `console` (a rich Console)."""

    out: Path
    console: Any
    results: list[StageResult] = field(default_factory=list)
    _chain: str = ""

    def advance(self, stage: Stage) -> None:
        """Pass over a stage without running or checking it (another process runs it): the stages after
        it still get the fingerprints they would have in a full run."""
        self._chain = fingerprint(stage.settings, self._chain)

    def plan(self, stage: Stage) -> StageStatus:
        """What `run` would do with the stage (nothing is run or changed)."""
        self.advance(stage)
        return stage_status(self.out / stage.name, self._chain, stage.clean)

    def run(self, stage: Stage, index: int, total: int) -> StageRecord:
        folder = self.out / stage.name
        self.advance(stage)
        expected = self._chain
        done = read_record(folder)
        status = _status(done, folder, expected, stage.clean)
        title = f"[{index}/{total}] {stage.name}"
        if status == "done" and done is not None:
            self.console.rule(f"{title} [dim](done earlier in {done.seconds:.0f} s: skipped)[/]")
            self.results.append(StageResult(stage.name, stage.description, True, done))
            return done
        self.console.rule(title)
        self.console.print(f"[dim]{stage.description}[/]")
        if status == "reruns":
            self.console.print(f"[yellow]settings changed since {stage.name} last ran: running it again[/]")
        if status == "restarts":
            self.console.print(
                f"[yellow]settings changed since {stage.name} was started: its unfinished run "
                "(checkpoints included) is discarded and it starts over[/]"
            )
        if folder.exists() and status != "resumes":
            shutil.rmtree(folder)
        started_as = folder / STARTED
        (folder / MARKER).unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        started_as.write_text(expected + "\n", encoding="utf-8")
        started = time.perf_counter()
        outputs = stage.run(folder)
        record = StageRecord(
            name=stage.name,
            fingerprint=expected,
            seconds=round(time.perf_counter() - started, 2),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            outputs=outputs,
        )
        with atomic_file(folder / MARKER) as tmp:
            tmp.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
        self.console.print(f"[green]✓[/] {stage.name} finished in {record.seconds:.0f} s")
        self.results.append(StageResult(stage.name, stage.description, False, record))
        return record
