"""LLM backends chosen by name (`backend:` of an LLM config): each builds a client from the config.

The built-in `openai` (any OpenAI-compatible endpoint) and `transformers` (a model in this process) are
imported only when chosen; `@register_llm_backend("name")` or the entry-point group `cm2.llm_backends` adds one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cm2.registry import Registry

if TYPE_CHECKING:
    from cm2.llm.config import LLMConfig
    from cm2.llm.protocol import LLMClient

BackendBuilder = Callable[["LLMConfig"], "LLMClient"]

LLM_BACKENDS: Registry[BackendBuilder] = Registry("LLM backend", group="cm2.llm_backends")
LLM_BACKENDS.register_lazy("openai", "cm2.llm.openai_backend:OpenAIBackend")
LLM_BACKENDS.register_lazy("transformers", "cm2.llm.transformers_backend:TransformersBackend.from_config")


def register_llm_backend(name: str) -> Callable[[BackendBuilder], BackendBuilder]:
    """Register a client builder under `name` (the value of an LLM config's `backend:`)."""
    return LLM_BACKENDS.register(name)


def backend_name(name: str) -> str:
    """`name` when an LLM backend is registered under it (a pydantic validator for `backend:`)."""
    return LLM_BACKENDS.check(name)
