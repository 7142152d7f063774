"""Reading and writing dialogue records in every supported file format, as streams.

Formats: `jsonl` (canonical; `.jsonl`, `.ndjson`, optionally `.gz`), `json` (one array),
`parquet` (a file or a directory of `*.parquet`), `hf` (a `save_to_disk` directory). Readers yield
`RawRecord`s and never raise on a bad record; writers are atomic.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from cm2.data.adapters import RecordFormat, checked_dialogue, to_dialogue
from cm2.data.errors import RecordError
from cm2.data.raw import FILE_FORMATS, FileFormat, RawRecord
from cm2.schema import Dialogue

_SUFFIXES: dict[str, FileFormat] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}
Problem = tuple[str, str]


def file_format(path: str | os.PathLike[str], fmt: str | None = None) -> FileFormat:
    """The format named by `fmt`, else guessed from the path (suffix, or what a directory holds)."""
    if fmt is not None:
        if fmt not in FILE_FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FILE_FORMATS)}")
        return fmt
    target = Path(path)
    if target.is_dir():
        from cm2.data.hf import is_hf_dir

        if is_hf_dir(target) or not any(target.iterdir()):
            return "hf"
        if any(target.rglob("*.parquet")):
            return "parquet"
        raise ValueError(f"{target}: directory is neither a saved Hugging Face dataset nor holds Parquet files")
    name = target.name.removesuffix(".gz")
    suffix = Path(name).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if not target.exists() and not suffix:
        return "hf"
    raise ValueError(f"{target}: cannot tell the format from the name; pass one of {', '.join(FILE_FORMATS)}")


def iter_records(path: str | os.PathLike[str], fmt: str | None = None) -> Iterator[RawRecord]:
    """Stream the records of a file as `RawRecord`s; bad records come with `error` set, never as exceptions."""
    kind = file_format(path, fmt)
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    if kind == "jsonl":
        from cm2.data.jsonl import iter_jsonl

        return iter_jsonl(path)
    if kind == "json":
        from cm2.data.jsonarray import iter_json

        return iter_json(path)
    if kind == "parquet":
        from cm2.data.parquet import iter_parquet

        return iter_parquet(path)
    from cm2.data.hf import iter_hf

    return iter_hf(path)


def count_records(path: str | os.PathLike[str], fmt: str | None = None) -> int | None:
    """The number of records when the format knows it without reading them (Parquet, HF), else None."""
    kind = file_format(path, fmt)
    if kind == "parquet":
        from cm2.data.parquet import count_parquet

        return count_parquet(path)
    if kind == "hf":
        from cm2.data.hf import count_hf

        return count_hf(path)
    return None


def write_records(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]], fmt: str | None = None) -> int:
    """Write records atomically (temp file beside `path`, then rename); returns how many were written.

    JSONL, JSON and Parquet are written as a stream; for `hf` the records stream into an Arrow
    file that `datasets` then saves.
    """
    kind = file_format(path, fmt)
    if kind == "jsonl":
        from cm2.data.jsonl import write_jsonl

        return write_jsonl(path, records)
    if kind == "json":
        from cm2.data.jsonarray import write_json

        return write_json(path, records)
    if kind == "parquet":
        from cm2.data.parquet import write_parquet

        return write_parquet(path, records)
    from cm2.data.hf import write_hf

    return write_hf(path, records)


def read_dialogues(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    errors: list[Problem] | None = None,
    *,
    source: RecordFormat | None = None,
    checked: bool = True,
) -> Iterator[Dialogue]:
    """Stream the dialogues of a file, whatever its record format (`source` forces one).

    With an `errors` list, each bad record is skipped and `(location, message)` appended to it;
    without one, the first bad record raises `RecordError`. A file that cannot be read on raises
    `UnreadableFileError` either way. `checked` also refuses a dialogue whose checklists are unsound
    (leave it off only where the checklists are replaced, as in labeling).
    """
    for raw in iter_records(path, fmt):
        try:
            if raw.data is None:
                raise RecordError(raw.location, raw.error or "unreadable record")
            dialogue = to_dialogue(raw.data, source=source, location=raw.location)
            yield checked_dialogue(dialogue, raw.location) if checked else dialogue
        except RecordError as exc:
            if errors is None:
                raise
            errors.append((exc.location, exc.message))


def find_dialogue(path: str | os.PathLike[str], uuid: str | None = None) -> Dialogue:
    """The dialogue `uuid` of a file (default: its first); ValueError naming the file when there is none."""
    count = 0
    for dialogue in read_dialogues(path):
        count += 1
        if uuid is None or dialogue.uuid == uuid:
            return dialogue
    if uuid is None:
        raise ValueError(f"{path} holds no dialogue")
    raise ValueError(f"no dialogue with uuid {uuid!r} among the {count} of {path}")


__all__ = [
    "FILE_FORMATS",
    "FileFormat",
    "Problem",
    "RawRecord",
    "checked_dialogue",
    "count_records",
    "file_format",
    "find_dialogue",
    "iter_records",
    "read_dialogues",
    "write_records",
]
