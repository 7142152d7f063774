"""Fixtures of the evaluation and serving tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 checkpoint with a real tokenizer and chat template (about a second to build)."""
    from cm2.llm.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-checkpoint"))
