"""One record as read from a file, before it is turned into a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FileFormat = Literal["jsonl", "json", "parquet", "hf"]
FILE_FORMATS: tuple[FileFormat, ...] = ("jsonl", "json", "parquet", "hf")


@dataclass(frozen=True)
class RawRecord:
    """A record and where it came from.

    `location` reads like `data.jsonl:12` (1-based line), `data.json[3]` (array index) or
    `data.parquet#row 5` (0-based row). Exactly one of `data` and `error` is set.
    """

    location: str
    data: dict[str, Any] | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
