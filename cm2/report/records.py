"""Reading what a run or a judge wrote: trajectories and `cm2 judge` records, tolerating a torn last line.

A job killed mid-write leaves at most its last line incomplete; that line is skipped with a note.
A bad line anywhere else is an error naming the file and line, since it means the file is not what
it claims to be.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cm2.data import RawRecord, RecordError, iter_records
from cm2.judging.records import JudgedRecord
from cm2.schema import Trajectory

RolloutKey = tuple[str, str | None, int]


@dataclass
class LoadedRecords:
    """The trajectories and judge records of one file, with notes about what was skipped."""

    path: Path
    trajectories: list[Trajectory] = field(default_factory=list)
    judged: list[JudgedRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def iter_complete(path: str | os.PathLike[str], notes: list[str]) -> Iterator[RawRecord]:
    """The readable records of `path`; each unreadable one is skipped with a note in `notes` (a torn last
    line is what a run being written leaves)."""
    pending: RawRecord | None = None
    for raw in iter_records(path):
        if pending is not None:
            notes.append(f"{pending.location}: skipped an unreadable record ({pending.error})")
            pending = None
        if raw.data is None:
            pending = raw
            continue
        yield raw
    if pending is not None:
        notes.append(f"{pending.location}: skipped a torn last line ({pending.error})")


def key_of(record: Trajectory | JudgedRecord) -> RolloutKey:
    return record.dialogue_uuid, record.group, record.rollout


def _parse(raw: RawRecord) -> Trajectory | JudgedRecord:
    data: dict[str, Any] = raw.data or {}
    try:
        if "messages" in data:
            return Trajectory.model_validate(data)
        if "reward" in data and "verdicts" in data:
            return JudgedRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RecordError(raw.location, f"{where}: {first['msg']}") from exc
    raise RecordError(raw.location, "neither a trajectory (no `messages`) nor a `cm2 judge` record (no `reward`)")


def load_records(path: str | os.PathLike[str]) -> LoadedRecords:
    """Every trajectory and judge record of a file (JSONL, JSON, Parquet; see `cm2.data.io`); a record that is
    neither is skipped with a note."""
    loaded = LoadedRecords(Path(path))
    for raw in iter_complete(path, loaded.notes):
        try:
            record = _parse(raw)
        except RecordError as exc:
            loaded.notes.append(f"{exc.location}: skipped ({exc.message})")
            continue
        if isinstance(record, Trajectory):
            loaded.trajectories.append(record)
        else:
            loaded.judged.append(record)
    return loaded


def attach_messages(judged: list[JudgedRecord], trajectories: list[Trajectory]) -> list[Trajectory | None]:
    """For each judge record, the trajectory it judged (same dialogue, group and rollout), or None."""
    by_key: dict[RolloutKey, Trajectory] = {}
    for trajectory in trajectories:
        by_key.setdefault(key_of(trajectory), trajectory)
    return [by_key.get(key_of(record)) for record in judged]
