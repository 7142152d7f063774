"""Which attention implementation to load a checkpoint with, and cm2's padding-safe SDPA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Gemma 3 mixes sliding-window and global layers. A query whose whole sliding window is padding (a row
# padded by more than the window, as SFT and GRPO batches are) attends to no key at all. How a kernel
# answers such a row is its own business: SDPA's math kernel returns zeros, others may return NaN, and
# although no real token reads that position, a NaN there reaches the weight gradients (0 * NaN in the
# backward matmuls). That was the suspected cause of a NaN grad norm in SFT on an H200, for which eager
# attention was forced. benchmarks/attention_padding.py (a training forward and backward with padding
# past the window) found no NaN with plain SDPA on an H100 with torch 2.11 and transformers 5.17 or 5.25,
# so the NaN is not reproduced; eager only cost speed. `cm2_sdpa` is SDPA with every fully masked query
# row opened to all keys: real tokens see exactly what SDPA shows them, padding rows get finite values,
# whatever kernel runs. On the CPU the library's default stays.
PADDED_SDPA = "cm2_sdpa"
SLIDING_WINDOW_MODEL_TYPES = ("gemma3", "gemma3_text", "gemma2")


def padded_sdpa_forward(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, *args: Any, **kwargs: Any
) -> Any:
    """transformers' SDPA attention, except that no query row is left with every key masked."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if attention_mask is not None and attention_mask.dtype.is_floating_point is False:
        attention_mask = attention_mask | ~attention_mask.any(dim=-1, keepdim=True)
    return sdpa_attention_forward(module, query, key, value, attention_mask, *args, **kwargs)


def register_padded_sdpa() -> str:
    """Make `cm2_sdpa` a known `attn_implementation` (idempotent); returns its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(PADDED_SDPA, padded_sdpa_forward)
    AttentionMaskInterface.register(PADDED_SDPA, sdpa_mask)
    return PADDED_SDPA


def attention_kwargs(path: str | Path) -> dict[str, Any]:
    """`from_pretrained` keyword arguments for the checkpoint at `path` (empty: the library's default)."""
    import torch

    if not torch.cuda.is_available():
        return {}
    config = Path(path) / "config.json"
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "")
    except (OSError, ValueError):
        return {}
    if model_type in SLIDING_WINDOW_MODEL_TYPES:
        return {"attn_implementation": register_padded_sdpa()}
    return {}
