"""JSON Lines, cm2's canonical on-disk form: one JSON object per line, read and written as a stream.

A name ending in `.gz` is read and written through gzip. Lines are parsed within the limits of
`cm2.schema.jsontext` (nesting, NaN, lone surrogates); a UTF-8 byte order mark on the first line and
CRLF line ends are accepted.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from cm2.data.atomic import atomic_file
from cm2.data.errors import UnreadableFileError
from cm2.data.raw import RawRecord
from cm2.schema.jsontext import JSONLimitError, loads

BOM = b"\xef\xbb\xbf"
MAX_LINE_BYTES = 256 << 20
"""A longer line is reported as a bad record (and skipped) rather than read into memory."""

FILE_ERRORS = (OSError, EOFError, zlib.error)
"""What reading a file can raise midway: I/O errors, a truncated or corrupt gzip stream."""


def dumps_line(record: Mapping[str, Any]) -> bytes:
    """One record as a UTF-8 JSON line ending in a newline.

    Text that is not valid Unicode (a lone surrogate, say from a model's output) is written as a
    `\\u` escape instead of failing the write.
    """
    text = json.dumps(record, ensure_ascii=False) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(record) + "\n").encode("ascii")


def parse_line(line: bytes, *, strict: bool = True) -> tuple[dict[str, Any] | None, str | None]:
    """A JSON line as (object, None), or (None, why it is not a JSON object).

    `strict=False` lets NaN and lone surrogates through (for reading back our own outputs).
    """
    try:
        value = loads(line, allow_nan=not strict, allow_lone_surrogates=not strict)
    except JSONLimitError as exc:
        return None, f"refused JSON ({exc.msg})"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 ({exc.reason} at byte {exc.start})"
    if not isinstance(value, dict):
        return None, f"a JSON {type(value).__name__}, not an object"
    return value, None


def _open_read(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _lines(handle: io.BufferedIOBase) -> Iterator[bytes | None]:
    """The lines of `handle`; None for a line over `MAX_LINE_BYTES` (its bytes are skipped)."""
    while line := handle.readline(MAX_LINE_BYTES + 1):
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while (rest := handle.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield None


def iter_jsonl(path: str | os.PathLike[str], *, strict: bool = True) -> Iterator[RawRecord]:
    """Stream the records of a JSONL file; a bad line becomes a `RawRecord` with `error` set.

    Blank lines are skipped. Memory is bounded by `MAX_LINE_BYTES`. A file that cannot be read on
    (a directory, a corrupt gzip stream) raises `UnreadableFileError`. `strict`: see `parse_line`.
    """
    source = Path(path)
    number = 0
    try:
        with _open_read(source) as handle:
            for number, line in enumerate(_lines(handle), start=1):
                location = f"{source}:{number}"
                if line is None:
                    yield RawRecord(location, None, f"line longer than {MAX_LINE_BYTES:,} bytes")
                    continue
                if number == 1:
                    line = line.removeprefix(BOM)
                if not line.strip():
                    continue
                data, error = parse_line(line, strict=strict)
                yield RawRecord(location, data, error)
    except FILE_ERRORS as exc:
        raise UnreadableFileError(f"{source}:{number + 1}", f"unreadable file ({type(exc).__name__}: {exc})") from None


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
