"""Which attention implementation to load a checkpoint with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Gemma 3 mixes sliding-window and global layers. With SDPA's CUDA kernels, a padded row whose whole
# sliding window is padding attends to nothing: its output is NaN, and the NaN reaches real tokens
# (0 * NaN in the next matmul) and the gradients. On an H200 this turned SFT's grad norm to NaN at the
# second step (most likely where a batch was padded by more than the window; eager fixed it). Eager masks with the
# dtype's minimum instead. On the CPU SDPA showed no NaN and one demo run each gave no clear speed winner
# (SFT 304 s SDPA vs 333 s eager, GRPO 582 s vs 473 s), so there the library's default stays.
EAGER_MODEL_TYPES = ("gemma3", "gemma3_text", "gemma2")


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
    return {"attn_implementation": "eager"} if model_type in EAGER_MODEL_TYPES else {}
