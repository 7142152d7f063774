"""Which attention implementation checkpoints load with, and cm2's padding-safe SDPA."""

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers.integrations.sdpa_attention as sdpa

from cm2.llm.attention import PADDED_SDPA, attention_kwargs, padded_sdpa_forward, register_padded_sdpa


def _checkpoint(folder: Path, model_type: str) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}), encoding="utf-8")
    return folder


def test_gemma_on_a_gpu_loads_with_padding_safe_sdpa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gemma, qwen = _checkpoint(tmp_path / "g", "gemma3_text"), _checkpoint(tmp_path / "q", "qwen2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert attention_kwargs(gemma) == {"attn_implementation": PADDED_SDPA}
    assert attention_kwargs(qwen) == {} and attention_kwargs(tmp_path / "missing") == {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert attention_kwargs(gemma) == {}


def test_no_query_row_reaches_the_kernel_fully_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel that answers a row with no key by NaN (as some CUDA kernels may) never sees such a row
    through cm2_sdpa, and real rows get SDPA's own result."""
    seen: list[Any] = []
    original = sdpa.sdpa_attention_forward

    def nan_for_empty_rows(module: Any, q: Any, k: Any, v: Any, mask: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(mask)
        out, weights = original(module, q, k, v, mask, *args, **kwargs)
        empty = ~mask.any(dim=-1)  # (batch, 1, queries)
        return out.masked_fill(empty.squeeze(1)[..., None, None], float("nan")), weights

    monkeypatch.setattr(sdpa, "sdpa_attention_forward", nan_for_empty_rows)
    module = torch.nn.Module()
    module.is_causal, module.num_key_value_groups = True, 1  # type: ignore[assignment]
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 6, 8) for _ in range(3))
    mask = torch.ones(2, 1, 6, 6, dtype=torch.bool).tril()
    mask[1, :, :, :3] = False  # row 1: the first three keys are padding, so queries 0-2 see nothing
    plain, _ = nan_for_empty_rows(module, q, k, v, mask)
    safe, _ = padded_sdpa_forward(module, q, k, v, mask)
    assert plain.isnan().any() and not safe.isnan().any()
    assert seen[-1].any(dim=-1).all()
    real = mask.any(dim=-1).squeeze(1)  # (batch, queries) that attend to something
    assert torch.equal(safe[real], plain[real])  # outputs are (batch, queries, heads, dim)


def test_registered_name_loads_a_model(tmp_path: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(tmp_path)
    loaded = LlamaForCausalLM.from_pretrained(tmp_path, attn_implementation=register_padded_sdpa())
    assert loaded.config._attn_implementation == PADDED_SDPA
    ids = torch.tensor([[0, 0, 5, 6]])
    assert loaded(input_ids=ids, attention_mask=torch.tensor([[0, 0, 1, 1]])).logits.isfinite().all()
