"""Several endpoints behind one client: least-in-flight choice, cool-down of failing ones, dialect memory."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from cm2.llm.redact import redact_url
from cm2.llm.structured import Dialect


def join_url(base_url: str, path: str) -> str:
    """`path` appended to the path of `base_url`, its query string kept at the end (`…/v1?api-version=…`)."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{path.lstrip('/')}"))


@dataclass
class Endpoint:
    """One base URL and what we learned about it."""

    base_url: str
    dialect: Dialect | None = None
    in_flight: int = 0
    consecutive_failures: int = 0
    cooling_until: float = 0.0
    requests: int = 0
    failures: int = 0
    order: int = field(default=0, repr=False)

    def __repr__(self) -> str:
        return (
            f"Endpoint(base_url={redact_url(self.base_url)!r}, dialect={self.dialect!r}, in_flight={self.in_flight}, "
            f"requests={self.requests}, failures={self.failures})"
        )


class EndpointPool:
    """Picks the endpoint for each attempt.

    Healthy endpoints come first; among them the one with the fewest requests in flight, then round robin
    (the endpoint used last goes to the back, so a retry moves on to another endpoint). An endpoint that
    fails `failure_threshold` times in a row is avoided for `cooldown_s`; when every endpoint is cooling,
    the one that recovers first is used anyway.
    Single-threaded (asyncio) use only.
    """

    def __init__(
        self,
        base_urls: list[str],
        *,
        failure_threshold: int = 3,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not base_urls:
            raise ValueError("an endpoint pool needs at least one base URL")
        self.endpoints = [Endpoint(url, order=i) for i, url in enumerate(base_urls)]
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._ticket = itertools.count(len(base_urls))

    def pick(self) -> Endpoint:
        """The endpoint the next attempt should use."""
        now = self._clock()

        def rank(ep: Endpoint) -> tuple[float, int, int]:
            cooling = max(0.0, ep.cooling_until - now)
            return (cooling, ep.in_flight, ep.order)

        return min(self.endpoints, key=rank)

    @contextmanager
    def use(self) -> Iterator[Endpoint]:
        """Pick an endpoint and count the attempt as in flight while the block runs."""
        endpoint = self.pick()
        endpoint.in_flight += 1
        endpoint.requests += 1
        endpoint.order = next(self._ticket)  # the one used last goes to the back of the round robin
        try:
            yield endpoint
        finally:
            endpoint.in_flight -= 1

    def succeeded(self, endpoint: Endpoint) -> None:
        endpoint.consecutive_failures = 0
        endpoint.cooling_until = 0.0

    def failed(self, endpoint: Endpoint) -> None:
        """Record a transport-level failure (5xx, 429, timeout, connection error, unreadable body)."""
        endpoint.failures += 1
        endpoint.consecutive_failures += 1
        if endpoint.consecutive_failures >= self.failure_threshold:
            endpoint.cooling_until = self._clock() + self.cooldown_s

    def is_cooling(self, endpoint: Endpoint) -> bool:
        return endpoint.cooling_until > self._clock()
