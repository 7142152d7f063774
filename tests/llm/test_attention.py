"""Which attention implementation checkpoints load with."""

import json
from pathlib import Path

import pytest
import torch

from cm2.llm.attention import attention_kwargs


def _checkpoint(folder: Path, model_type: str) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}), encoding="utf-8")
    return folder


def test_gemma_on_a_gpu_loads_with_eager_attention(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gemma, qwen = _checkpoint(tmp_path / "g", "gemma3_text"), _checkpoint(tmp_path / "q", "qwen2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert attention_kwargs(gemma) == {"attn_implementation": "eager"}
    assert attention_kwargs(qwen) == {} and attention_kwargs(tmp_path / "missing") == {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert attention_kwargs(gemma) == {}
