"""Append-only JSONL output for long, resumable jobs.

Every record is one `write` of one full line, flushed at once and fsynced (every record by default),
so a killed job loses at most the line it was writing. On open, such a torn last line is cut off
and reported; a job then asks `keys("uuid")` what it already finished and skips it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from cm2.data.atomic import fsync_dir
from cm2.data.jsonl import dumps_line, iter_jsonl, parse_line

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16


@dataclass(frozen=True)
class TornTail:
    """What `JsonlAppender` found after the last newline of an existing file.

    `kept` is True when the tail was a whole JSON object missing only its newline (one was added);
    otherwise the `dropped` bytes were cut off at byte `offset`.
    """

    path: str
    offset: int
    dropped: int
    kept: bool
    preview: str

    def __str__(self) -> str:
        if self.kept:
            return f"{self.path}: last record had no trailing newline; added one"
        return f"{self.path}: cut a torn last line of {self.dropped} bytes at byte {self.offset}: {self.preview!r}"


def _tail_start(handle: IO[bytes], size: int) -> int:
    """Offset just past the last newline (0 when there is none)."""
    end = size
    while end > 0:
        start = max(0, end - _CHUNK)
        handle.seek(start)
        chunk = handle.read(end - start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def repair_tail(path: str | os.PathLike[str]) -> TornTail | None:
    """Make `path` end with a newline: keep a complete last record, cut a torn one. None if nothing to do."""
    target = Path(path)
    if not target.exists():
        return None
    with open(target, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return None
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return None
        start = _tail_start(handle, size)
        handle.seek(start)
        tail = handle.read()
        preview = tail[:80].decode("utf-8", errors="replace")
        data, _ = parse_line(tail, strict=False)
        if data is not None:
            handle.seek(size)
            handle.write(b"\n")
            report = TornTail(str(target), size, 0, True, preview)
        else:
            handle.truncate(start)
            report = TornTail(str(target), start, size - start, False, preview)
        handle.flush()
        os.fsync(handle.fileno())
    logger.warning("%s", report)
    return report


class JsonlAppender:
    """Append records to a JSONL file, one line each, durable line by line.

    `fsync_every=N` fsyncs after every N records (1 = each record; 0 = only on close); every record
    is flushed to the OS at once either way. Use as a context manager. After opening, `recovered`
    says whether a torn last line was repaired.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync_every: int = 1):
        if fsync_every < 0:
            raise ValueError("fsync_every must be >= 0")
        self.path = Path(path)
        self.fsync_every = fsync_every
        self.recovered: TornTail | None = None
        self.written = 0
        self._handle: IO[bytes] | None = None
        self._unsynced = 0

    def open(self) -> Self:
        if self.path.name.endswith(".gz"):
            raise ValueError(f"{self.path}: cannot append to a gzip file line by line")
        if self._handle is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self.recovered = repair_tail(self.path)
        self._handle = open(self.path, "ab")  # noqa: SIM115 - held open until close()
        if created:
            fsync_dir(self.path.parent)
        return self

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as one line."""
        if self._handle is None:
            raise RuntimeError(f"{self.path}: appender is not open")
        self._handle.write(dumps_line(record))
        self._handle.flush()
        self.written += 1
        self._unsynced += 1
        if self.fsync_every and self._unsynced >= self.fsync_every:
            self.sync()

    def write_many(self, records: Iterable[Mapping[str, Any]]) -> int:
        count = 0
        for record in records:
            self.write(record)
            count += 1
        return count

    def sync(self) -> None:
        """Force what was written onto the disk."""
        if self._handle is not None and self._unsynced:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._unsynced = 0

    def keys(self, field: str) -> set[Any]:
        """The values of `field` over every complete record in the file (for resume and dedupe)."""
        if self._handle is not None:
            self._handle.flush()
        elif not self.path.exists():
            return set()
        return {
            raw.data[field] for raw in iter_jsonl(self.path, strict=False) if raw.data is not None and field in raw.data
        }

    def close(self) -> None:
        if self._handle is None:
            return
        try:
            self.sync()
        finally:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
