"""A JSON file holding one array of records (the form of the released CM2 files).

Read as a stream with `ijson` when it is installed (memory bounded by one record), otherwise loaded
whole. A top-level object is read as a single record; a `.json` file that holds one object per line
is read as JSONL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from cm2.data.atomic import atomic_file
from cm2.data.errors import UnreadableFileError
from cm2.data.jsonl import BOM, FILE_ERRORS, iter_jsonl
from cm2.data.raw import RawRecord
from cm2.schema.jsontext import JSONLimitError, loads, value_problem


def _item(source: Path, index: int, value: Any, *, checked: bool = True) -> RawRecord:
    location = f"{source}[{index}]"
    if not isinstance(value, dict):
        return RawRecord(location, None, f"a JSON {type(value).__name__}, not an object")
    problem = None if checked else value_problem(value)
    return RawRecord(location, None, f"refused JSON ({problem})") if problem else RawRecord(location, value)


def _first_char(source: Path) -> bytes:
    with open(source, "rb") as handle:
        while chunk := handle.read(4096):
            stripped = chunk.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
            if stripped:
                return stripped[:1]
    return b""


def _iter_loaded(source: Path) -> Iterator[RawRecord]:
    try:
        with open(source, "rb") as handle:
            value = loads(handle.read().removeprefix(BOM))
    except JSONLimitError as exc:
        yield RawRecord(f"{source}", None, f"refused JSON ({exc.msg})")
        return
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # one object per line under a .json name: read it as JSONL
            yield from iter_jsonl(source)
        else:
            yield RawRecord(f"{source}", None, f"invalid JSON ({exc})")
        return
    except UnicodeDecodeError as exc:
        yield RawRecord(f"{source}", None, f"invalid UTF-8 ({exc})")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield _item(source, index, item)
    else:
        yield _item(source, 0, value)


def _iter_streamed(source: Path) -> Iterator[RawRecord]:
    import ijson

    index = 0
    try:
        with open(source, "rb") as handle:
            for item in ijson.items(handle, "item", use_float=True):
                yield _item(source, index, item, checked=False)
                index += 1
    except (ijson.JSONError, RecursionError, ValueError) as exc:
        yield RawRecord(f"{source}[{index}]", None, f"invalid JSON, rest of the file skipped ({exc})")


def _has_ijson() -> bool:
    try:
        import ijson  # noqa: F401
    except ImportError:
        return False
    return True


def iter_json(path: str | os.PathLike[str], *, stream: bool | None = None) -> Iterator[RawRecord]:
    """The records of a JSON array file (or the one object of an object file).

    `stream=None` streams when `ijson` is importable. A syntax error ends the stream with an error record.
    """
    source = Path(path)
    use_stream = _has_ijson() if stream is None else stream
    try:
        if use_stream and _first_char(source) == b"[":
            yield from _iter_streamed(source)
        else:
            yield from _iter_loaded(source)
    except FILE_ERRORS as exc:
        raise UnreadableFileError(str(source), f"unreadable file ({type(exc).__name__}: {exc})") from None


def write_json(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]], *, indent: int | None = 2) -> int:
    """Write records atomically as one JSON array, one record at a time; returns the count."""
    count = 0
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write("[")
        for record in records:
            handle.write(",\n" if count else "\n")
            text = json.dumps(record, ensure_ascii=False, indent=indent)
            handle.write(text if indent is None else _indent(text, indent))
            count += 1
        handle.write("\n]\n" if count else "]\n")
    return count


def _indent(text: str, width: int) -> str:
    pad = " " * width
    return "\n".join(pad + line for line in text.splitlines())
