"""Build the client a config describes: backend, then the optional cache, then usage metering."""

from __future__ import annotations

from cm2.llm.cache import CachedClient, ResponseCache
from cm2.llm.config import LLMConfig
from cm2.llm.protocol import LLMClient
from cm2.llm.usage import MeteredClient, UsageMeter


def make_backend(config: LLMConfig) -> LLMClient:
    """The bare backend for `config` (no cache, no metering)."""
    if config.backend == "openai":
        from cm2.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(config)
    if config.backend == "transformers":
        from cm2.llm.transformers_backend import TransformersBackend

        return TransformersBackend.from_config(config)
    raise ValueError(f"unknown LLM backend {config.backend!r}")


def make_client(config: LLMConfig, *, role: str = "default", meter: UsageMeter | None = None) -> LLMClient:
    """The client for one role: the backend, wrapped by the on-disk cache when `cache_path` is set, and
    by `meter` (usage recorded under `role`) when given."""
    client = make_backend(config)
    if config.cache_path is not None:
        client = CachedClient(client, ResponseCache(config.cache_path))
    if meter is not None:
        client = MeteredClient(client, meter, role)
    return client
