"""The verdict cache: an in-memory LRU, optionally backed by a SQLite file that outlives the run.

A key is the hash of everything that decides a verdict (the item as shown, the rendered history, the
judge's model, prompt kind and version, votes and sampling). Only obtained verdicts are stored:
unavailable ones are asked again next time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import OrderedDict
from pathlib import Path
from typing import Any

from pydantic import BaseModel


class CachedVerdict(BaseModel):
    """What a cache entry holds: the decision and how it was reached."""

    satisfied: bool
    votes: list[bool | None] | None = None
    reason: str | None = None


def cache_key(fingerprint: dict[str, Any], item: dict[str, Any], context: str) -> str:
    """The SHA-256 of the judge fingerprint, the item record and the rendered evidence context."""
    digest = hashlib.sha256()
    for part in (json.dumps(fingerprint, sort_keys=True), json.dumps(item, sort_keys=True), context):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


class VerdictCache:
    """LRU of `size` entries in memory; with `path`, every entry is also kept in SQLite."""

    def __init__(self, size: int = 100_000, path: Path | None = None):
        self.size = size
        self.path = path
        self._memory: OrderedDict[str, CachedVerdict] = OrderedDict()
        self._db: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.commit()

    def _remember(self, key: str, value: CachedVerdict) -> None:
        if self.size <= 0:
            return
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > self.size:
            self._memory.popitem(last=False)

    def get(self, key: str) -> CachedVerdict | None:
        """The stored verdict for `key`, or None."""
        value = self._memory.get(key)
        if value is not None:
            self._memory.move_to_end(key)
        elif self._db is not None:
            row = self._db.execute("SELECT value FROM verdicts WHERE key = ?", (key,)).fetchone()
            if row is not None:
                value = CachedVerdict.model_validate_json(row[0])
                self._remember(key, value)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: str, value: CachedVerdict) -> None:
        """Store a verdict (in memory, and on disk when the cache has a file)."""
        self._remember(key, value)
        if self._db is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO verdicts (key, value) VALUES (?, ?)", (key, value.model_dump_json())
            )
            self._db.commit()

    def __len__(self) -> int:
        if self._db is not None:
            return int(self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])
        return len(self._memory)

    def close(self) -> None:
        """Close the SQLite file (the memory part stays usable)."""
        if self._db is not None:
            self._db.close()
            self._db = None
