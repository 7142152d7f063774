"""Helpers for the LLM-layer tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cm2.llm.config import LLMConfig


def fast_config(*base_urls: str, **overrides: Any) -> LLMConfig:
    """A config with short timeouts and backoffs, reading its key from a test-only variable."""
    values: dict[str, Any] = {
        "model": "fake-model",
        "base_urls": list(base_urls),
        "api_key_env": "CM2_TEST_LLM_KEY",
        "timeout_s": 2.0,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
    }
    values.update(overrides)
    return LLMConfig.model_validate(values)


ConfigFactory = Callable[..., LLMConfig]


@pytest.fixture
def make_config() -> ConfigFactory:
    """`make_config(*base_urls, **overrides)`: see `fast_config`."""
    return fast_config


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 model with a trained BPE tokenizer and chat template, built once per session."""
    from cm2.llm.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
