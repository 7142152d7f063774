"""Which attention implementation to load a checkpoint with, and cm2's padding-safe SDPA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Gemma 3 mixes sliding-window and global layers. A query whose whole sliding window is padding (a
# row padded by more than the window, in training batches above all) attends to nothing. SDPA's CUDA
# kernels may answer such a row with NaN, and although no real token reads that position, the NaN
# reaches the weight gradients (0 * NaN in the backward matmuls): on an H200 SFT's grad norm turned NaN
# at the second step. Eager attention avoided it (it masks with the dtype's minimum) at the price of
# materialising every score. `cm2_sdpa` is SDPA with fully masked query rows opened to every key: real
# tokens see exactly what SDPA shows them, the padding rows get finite garbage, no NaN is ever made.
# On the CPU SDPA's math kernel returns zeros for such rows, so the library's default stays there.
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
