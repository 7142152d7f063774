"""JSON Lines, cm2's canonical on-disk form: one JSON object per line, read and written as a stream.

A name ending in `.gz` is read and written through gzip.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from cm2.data.atomic import atomic_file
from cm2.data.raw import RawRecord


def dumps_line(record: Mapping[str, Any]) -> bytes:
    """One record as a UTF-8 JSON line ending in a newline."""
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def parse_line(line: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """A JSON line as (object, None), or (None, why it is not a JSON object)."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 ({exc.reason} at byte {exc.start})"
    if not isinstance(value, dict):
        return None, f"a JSON {type(value).__name__}, not an object"
    return value, None


def _open_read(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[RawRecord]:
    """Stream the records of a JSONL file; a bad line becomes a `RawRecord` with `error` set.

    Blank lines are skipped. Memory is bounded by the longest line.
    """
    source = Path(path)
    with _open_read(source) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            data, error = parse_line(line)
            yield RawRecord(f"{source}:{number}", data, error)


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> int:
    """Write records atomically as JSONL (gzip when the name ends in `.gz`); returns the count."""
    target = Path(path)
    count = 0
    with atomic_file(target) as tmp, open(tmp, "wb") as raw:
        gzipped = target.name.endswith(".gz")
        handle: io.BufferedIOBase = gzip.GzipFile(filename="", mode="wb", fileobj=raw) if gzipped else raw
        with handle:
            for record in records:
                handle.write(dumps_line(record))
                count += 1
    return count
