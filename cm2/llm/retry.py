"""When to retry an HTTP attempt, and how long to wait first."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import httpx2

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


def is_retryable_status(status: int) -> bool:
    """5xx, 429 (rate limited), 408/409 (timeout, conflict) are worth another try; other 4xx are not."""
    return status in RETRYABLE_STATUS or status >= 500


def is_retryable_exception(exc: BaseException) -> bool:
    """Timeouts, connection failures and broken transfers are worth another try."""
    return isinstance(exc, httpx2.TimeoutException | httpx2.NetworkError | httpx2.RemoteProtocolError)


@dataclass
class Backoff:
    """Exponential backoff with jitter: retry n waits uniform(0.5, 1) · min(cap, base · 2ⁿ)."""

    base_s: float = 0.5
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (0-based); a server's Retry-After wins, capped."""
        if retry_after is not None and retry_after >= 0:
            return min(self.cap_s, retry_after)
        ceiling = min(self.cap_s, self.base_s * (2**retry))
        return ceiling * self.rng.uniform(0.5, 1.0)


def retry_after_seconds(response: httpx2.Response) -> float | None:
    """The Retry-After header in seconds, when present and numeric."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
