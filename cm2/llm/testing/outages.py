"""Endpoint outages for tests: the four ways an OpenAI-compatible endpoint can fail to answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cm2.llm.testing.fault_server import FakeOpenAIServer, FaultConfig, Responder, refusing_base_url

OUTAGES: dict[str, FaultConfig | None] = {
    "401": FaultConfig(error_401=1.0),
    "500": FaultConfig(error_500=1.0),
    "hang": FaultConfig(hang=1.0, hang_s=60),
    "refused": None,
}
"""Outage name → the faults every request meets (None: the port refuses connections)."""


@contextmanager
def outage_base_url(outage: str, responder: Responder) -> Iterator[str]:
    """The base URL of an endpoint suffering `outage` (a key of OUTAGES) while the block runs; `responder`
    answers the requests that would get through."""
    faults = OUTAGES[outage]
    if faults is None:
        with refusing_base_url() as url:
            yield url
    else:
        with FakeOpenAIServer(responder, faults=faults) as server:
            yield server.base_url
