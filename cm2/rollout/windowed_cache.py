"""Sliding-window layers of the decoder's static cache that attend over their window only.

The decoder keeps a full-length static layer for every layer, sliding-window ones included (see
`LoopDecoder._new_static_cache` for why), and until now each decode step attended over all `max_cache_len`
slots of every layer, the window applied through the mask. Gemma-3-270M has 15 sliding layers (window 512) of
18, so most of the keys a step read were masked out. Here a sliding layer still stores every slot, but hands
attention only the `window` slots that end at the current token: an `index_select` of fixed size, so the
compiled step keeps one shape. The masks for both kinds of layer are built by `window_masks` and passed to the
model as the per-layer-type mapping that transformers' Gemma-style models accept in place of a 2D mask.
Only decode steps (one new token) go this way; prefills and the dynamic-cache fallback do not.
(Imported lazily: it needs torch and transformers.)
"""

from __future__ import annotations

from typing import Any

import torch

from cm2.llm.attention import PADDED_SDPA

SLIDING = "sliding_attention"
FULL = "full_attention"
# Both take a boolean mask as it is; cm2's (how Gemma checkpoints load on the GPU) only opens rows with no key.
SDPA_KINDS = ("sdpa", PADDED_SDPA)


def sliding_window_of(model: Any) -> int | None:
    """The window of the model's sliding-window layers, or None when the windowed decode does not apply: no such
    layers, layer kinds other than sliding and full, or an attention other than SDPA or cm2's padding-safe SDPA
    (eager adds its mask as numbers). Transformers' models with such layers take the per-layer-type mask mapping
    (`layer_types`)."""
    text = model.config.get_text_config()
    layer_types = getattr(text, "layer_types", None) or []
    window = getattr(text, "sliding_window", None)
    if SLIDING not in layer_types or not window:
        return None
    if getattr(text, "_attn_implementation", None) not in SDPA_KINDS or set(layer_types) - {SLIDING, FULL}:
        return None
    return int(window)


def sliding_layers(model: Any) -> list[bool]:
    """Per layer, whether it is a sliding-window one."""
    return [kind == SLIDING for kind in model.config.get_text_config().layer_types]


def window_slots(filled: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `window` cache slots that end at the current token (slot `filled - 1`), clamped into the cache, and
    which of them really exist (the first steps of a short context reach before slot 0)."""
    wanted = filled - window + torch.arange(window, device=filled.device)
    return wanted.clamp(min=0), wanted >= 0


def window_masks(mask: torch.Tensor, current: torch.Tensor, window: int) -> dict[str, torch.Tensor]:
    """Boolean attention masks of one decode step for the token at slot `current` (a device scalar).

    `mask` is the decoder's (rows, max_cache_len) padding mask (0 for a row's left padding). Full layers see
    every slot up to the current one; sliding layers see the `window` slots of `window_slots`, in that order.
    This is the mask transformers builds for the static cache (causal, padding, `kv > q - window`), cut to
    what each layer is handed."""
    keep = mask.bool()
    slots = torch.arange(keep.shape[1], device=keep.device)
    full = keep & (slots <= current)
    index, exists = window_slots(current + 1, window)
    sliding = keep.index_select(1, index) & exists
    return {FULL: full[:, None, None, :], SLIDING: sliding[:, None, None, :]}


def windowed(layer_class: Any, window: int) -> Any:
    """`layer_class` (a transformers `StaticLayer`) that returns only its last `window` slots on a decode step."""

    class Windowed(layer_class):
        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            keys, values = super().update(key_states, value_states, *args, **kwargs)
            if key_states.shape[-2] != 1:  # the prefill's copy into the cache: its return value is not used
                return keys, values
            index, _ = window_slots(self.cumulative_length, window)
            return keys.index_select(2, index), values.index_select(2, index)

    return Windowed
