"""Which attention implementation to load a checkpoint with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Gemma 3 mixes sliding-window and global layers. With SDPA, a padded row whose whole sliding window is
# padding attends to nothing: its output is NaN, and the NaN reaches real tokens (0 * NaN in the next
# matmul) and the gradients. On a GPU this turned SFT's grad norm to NaN at the second step whenever
# a batch was padded by more than the window. Eager attention masks with the dtype's minimum instead.
EAGER_MODEL_TYPES = ("gemma3", "gemma3_text", "gemma2")


def attention_kwargs(path: str | Path) -> dict[str, Any]:
    """`from_pretrained` keyword arguments for the checkpoint at `path` (empty: the library's default)."""
    config = Path(path) / "config.json"
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "")
    except (OSError, ValueError):
        return {}
    return {"attn_implementation": "eager"} if model_type in EAGER_MODEL_TYPES else {}
