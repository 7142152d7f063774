"""The reference dialogues (with checklists) a report needs: item text, weights, dependencies, focus."""

from __future__ import annotations

import os
from pathlib import Path

from cm2.data import read_dialogues
from cm2.data.io import Problem
from cm2.report.run_dir import RunData
from cm2.schema import Dialogue


def run_dialogues_path(run: RunData) -> Path | None:
    """The `data` file of a run's config: as written, else relative to the run's folder or its parent."""
    if not run.config.data:
        return None
    written = Path(run.config.data)
    for candidate in (written, run.path / written, run.path.parent / written):
        if candidate.exists():
            return candidate
    return written


def load_dialogues(
    path: str | os.PathLike[str], uuids: set[str] | None = None
) -> tuple[dict[str, Dialogue], list[str]]:
    """The dialogues of `path` (only `uuids` when given), and notes on what could not be read or found."""
    source = Path(path)
    if not source.exists():
        return {}, [f"dialogues {source}: not found (pass --dialogues)"]
    problems: list[Problem] = []
    found = {d.uuid: d for d in read_dialogues(source, errors=problems) if uuids is None or d.uuid in uuids}
    notes = [f"dialogues {location}: skipped ({message})" for location, message in problems[:5]]
    if len(problems) > 5:
        notes.append(f"dialogues {source}: {len(problems) - 5} more unreadable records")
    missing = sorted((uuids or set()) - found.keys())
    if missing:
        notes.append(f"dialogues {source}: {len(missing)} rollout dialogue(s) not found, e.g. {missing[0]!r}")
    return found, notes
