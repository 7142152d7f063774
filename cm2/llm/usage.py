"""Token and dollar accounting per role and per key (e.g. a dialogue id)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pydantic import BaseModel

from cm2.llm.protocol import ChatRequest, ChatResponse, LLMClient, LLMError, Usage

_KEY: ContextVar[str | None] = ContextVar("cm2_llm_usage_key", default=None)


@contextmanager
def usage_key(key: str | None) -> Iterator[None]:
    """Attribute every metered LLM call made inside the block (this task and tasks it starts) to `key`."""
    token = _KEY.set(key)
    try:
        yield
    finally:
        _KEY.reset(token)


def current_usage_key() -> str | None:
    return _KEY.get()


class UsageTotals(BaseModel):
    """What a group of requests consumed."""

    requests: int = 0
    cached: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, usage: Usage, *, cached: bool = False, failed: bool = False) -> None:
        self.requests += 1
        self.cached += int(cached)
        self.failed += int(failed)
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost_usd += usage.cost_usd

    def merged(self, other: UsageTotals) -> UsageTotals:
        return UsageTotals(**{name: getattr(self, name) + getattr(other, name) for name in UsageTotals.model_fields})


class UsageRow(BaseModel):
    role: str
    key: str | None
    totals: UsageTotals


class UsageMeter:
    """Sums usage by (role, key). Thread-safe; `key` defaults to the one set by `usage_key(...)`."""

    def __init__(self) -> None:
        self._totals: dict[tuple[str, str | None], UsageTotals] = {}
        self._lock = threading.Lock()

    def record(
        self, role: str, usage: Usage, *, key: str | None = None, cached: bool = False, failed: bool = False
    ) -> None:
        key = key if key is not None else current_usage_key()
        with self._lock:
            self._totals.setdefault((role, key), UsageTotals()).add(usage, cached=cached, failed=failed)

    def rows(self) -> list[UsageRow]:
        """One row per (role, key), sorted."""
        with self._lock:
            items = sorted(self._totals.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
            return [UsageRow(role=r, key=k, totals=t.model_copy()) for (r, k), t in items]

    def _sum(self, keep: dict[str, bool]) -> dict[str, UsageTotals]:
        out: dict[str, UsageTotals] = {}
        for row in self.rows():
            name = row.role if keep["role"] else row.key
            if name is None:
                continue
            out[name] = out.get(name, UsageTotals()).merged(row.totals)
        return out

    def by_role(self) -> dict[str, UsageTotals]:
        return self._sum({"role": True})

    def by_key(self, role: str | None = None) -> dict[str, UsageTotals]:
        """Totals per key (over all roles, or one role); calls made without a key are left out."""
        if role is None:
            return self._sum({"role": False})
        return {row.key: row.totals for row in self.rows() if row.role == role and row.key is not None}

    def total(self) -> UsageTotals:
        out = UsageTotals()
        for row in self.rows():
            out = out.merged(row.totals)
        return out


class MeteredClient:
    """Records the usage of every call of `inner` in `meter` under `role` (failed calls too, when known)."""

    def __init__(self, inner: LLMClient, meter: UsageMeter, role: str):
        self.inner = inner
        self.meter = meter
        self.role = role

    def __repr__(self) -> str:
        return f"MeteredClient({self.inner!r}, role={self.role!r})"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        try:
            response = await self.inner.chat(request)
        except LLMError as exc:
            self.meter.record(self.role, exc.usage or Usage(), failed=True)
            raise
        self.meter.record(self.role, response.usage, cached=response.cached)
        return response

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()
