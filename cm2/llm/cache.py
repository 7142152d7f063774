"""An on-disk answer cache (SQLite), and a client wrapper that consults it first."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from cm2.llm.protocol import ChatRequest, ChatResponse, LLMClient, Usage


def cache_key(request: ChatRequest, identity: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the full request and the backend's identity."""
    payload = {"backend": identity, "request": request.model_dump(mode="json")}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """Answers by key in one SQLite file (WAL mode: safe for many threads and several processes)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL, created REAL)"
            )

    def get(self, key: str) -> ChatResponse | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else ChatResponse.model_validate_json(row[0])

    def put(self, key: str, response: ChatResponse) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, response, created) VALUES (?, ?, ?)",
                (key, response.model_dump_json(), time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedClient:
    """Answers from `cache` when the same request was answered before (`cached=True`, zero usage and cost).

    Identical requests running at the same time are sent once; the others wait for that answer.
    Failures are not cached.
    """

    def __init__(self, inner: LLMClient, cache: ResponseCache, identity: dict[str, Any] | None = None):
        self.inner = inner
        self.cache = cache
        if identity is None:
            identify = getattr(inner, "identity", None)
            identity = identify() if callable(identify) else {"client": type(inner).__name__}
        self.identity = identity
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __repr__(self) -> str:
        return f"CachedClient({self.inner!r}, path={str(self.cache.path)!r})"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        key = cache_key(request, self.identity)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                hit = await asyncio.to_thread(self.cache.get, key)
                if hit is not None:
                    return hit.model_copy(update={"cached": True, "usage": Usage()})
                response = await self.inner.chat(request)
                await asyncio.to_thread(self.cache.put, key, response)
                return response
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()
