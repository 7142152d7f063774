"""Build the client a config describes: backend, then the optional cache, then usage metering."""

from __future__ import annotations

from cm2.llm.backends import LLM_BACKENDS
from cm2.llm.cache import CachedClient, ResponseCache
from cm2.llm.config import LLMConfig
from cm2.llm.protocol import LLMClient
from cm2.llm.usage import MeteredClient, UsageMeter


def make_backend(config: LLMConfig) -> LLMClient:
    """The bare backend for `config` (no cache, no metering), built by the backend registered under its name."""
    return LLM_BACKENDS.get(config.backend)(config)


def make_client(config: LLMConfig, *, role: str = "default", meter: UsageMeter | None = None) -> LLMClient:
    """The client for one role: the backend, wrapped by the on-disk cache when `cache_path` is set, and
    by `meter` (usage recorded under `role`) when given."""
    client = make_backend(config)
    if config.cache_path is not None:
        client = CachedClient(client, ResponseCache(config.cache_path))
    if meter is not None:
        client = MeteredClient(client, meter, role)
    return client
