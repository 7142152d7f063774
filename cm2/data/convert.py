"""Converting a whole file: every record validated and rewritten, bad ones skipped and listed, the output
replaced atomically and not created when nothing was usable."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from cm2.data.adapters import RecordFormat, convert_record
from cm2.data.errors import RecordError, no_usable_records
from cm2.data.io import Problem, iter_records, write_records
from cm2.data.raw import FileFormat


def convert_file(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    to: RecordFormat | None = None,
    read_as: RecordFormat | None = None,
    in_format: FileFormat | None = None,
    out_format: FileFormat | None = None,
    strict: bool = False,
    tick: Callable[[], None] | None = None,
) -> tuple[int, list[Problem]]:
    """Write `source`'s records to `target` in record format `to` (None: each record's own), reading them as
    `read_as` (None: detected per record); the records written and those skipped (where, why). `strict` stops
    at the first bad record, writing nothing; `tick()` is called per record read."""
    skipped: list[Problem] = []

    def converted() -> Iterator[dict[str, Any]]:
        good = 0
        for raw in iter_records(source, in_format):
            if tick is not None:
                tick()
            try:
                if raw.data is None:
                    raise RecordError(raw.location, raw.error or "unreadable record")
                yield convert_record(raw.data, to=to, source=read_as, location=raw.location)
                good += 1
            except RecordError as exc:
                if strict:
                    raise RecordError(exc.location, f"{exc.message}; nothing written (--strict)") from None
                skipped.append((exc.location, exc.message))
        if not good:  # raised inside the atomic write: the target is not created
            raise no_usable_records(source, skipped)

    return write_records(target, converted(), fmt=out_format), skipped
