"""Scoring a group's completions with the prompt they share run once.

GRPO's training half scores every rollout's sampled tokens (with gradients for the policy, without for the
reference model and the log-prob check). TRL runs each row whole: for per-turn tasks a prompt of about 2,400
tokens and 110-180 generated ones, with the 8 rows of a group holding the same prompt, so most of the work is the
one prompt done 8 times. Here the rows of a micro-batch that share a prompt (the same ids and mask) run it once,
with its keys and values then repeated for each row's completion, which attends to them as to its own. The
gradient reaches the prompt's activations through the repeated cache, summed over the rows, as in the full
forward. Log-probs and entropies equal TRL's fused head (`tests/train/test_shared_prompt.py`: tiny Gemma 3 with
a sliding window shorter than the prompt, padding on both sides); `benchmarks/shared_prompt_scoring.py` times it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

# Families whose LM head scales its logits before the softmax; their rows go through TRL's own forward.
_SCALED_LOGITS = ("logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")


def _causal_lm(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def supports_shared_prompt(model: Any) -> bool:
    """Whether `model` (a causal LM, possibly under a PEFT adapter) can be scored here: a decoder whose backbone
    takes a cache and whose logits are not scaled, not recomputing activations in the backward pass."""
    causal = _causal_lm(model)
    config = causal.config.get_text_config()
    if getattr(causal, "is_gradient_checkpointing", False):  # the backbone would drop the cache
        return False
    if any(getattr(config, name, None) is not None for name in _SCALED_LOGITS):
        return False
    return _cache_keyword(causal.base_model) is not None


def _cache_keyword(backbone: Any) -> str | None:
    parameters = inspect.signature(backbone.forward).parameters
    return next((name for name in ("cache", "past_key_values") if name in parameters), None)


def prompt_runs(prompt_ids: Any, prompt_mask: Any) -> list[tuple[int, int]]:
    """[start, end) of each run of consecutive rows with the same prompt ids and mask."""
    runs: list[tuple[int, int]] = []
    start = 0
    for row in range(1, prompt_ids.size(0) + 1):
        if row == prompt_ids.size(0) or not (
            bool((prompt_ids[row] == prompt_ids[start]).all()) and bool((prompt_mask[row] == prompt_mask[start]).all())
        ):
            runs.append((start, row))
            start = row
    return runs


def shuffle_groups(batch: dict[str, Any], group_size: int) -> dict[str, Any]:
    """TRL's `shuffle_sequence_dict` by whole groups: the runs of `group_size` rows (one prompt's rollouts) go in
    a random order, each kept together. TRL shuffles the rows of a step before cutting them into micro-batches,
    which would leave a micro-batch one row of each of several groups and nothing to share; with one optimizer
    step per batch of rollouts (cm2's), the order only changes the order of summation."""
    import torch

    rows = len(next(value for value in batch.values() if value is not None))
    if rows % group_size:
        raise ValueError(f"{rows} rows are not whole groups of {group_size}")
    order = torch.randperm(rows // group_size)
    permutation = (order[:, None] * group_size + torch.arange(group_size)).flatten()

    def permute(value: Any) -> Any:
        if value is None or (isinstance(value, torch.Tensor) and value.ndim == 0):
            return value
        if isinstance(value, torch.Tensor):
            return value[permutation]
        return [value[i] for i in permutation]

    return {key: permute(value) for key, value in batch.items()}


def shared_prompt_logps(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    logits_to_keep: int,
    *,
    temperature: float,
    compute_entropy: bool,
    autocast: Callable[[], AbstractContextManager[Any]],
) -> tuple[Any, Any]:
    """Per-token log-probs (B, logits_to_keep) of the last `logits_to_keep` tokens of each row, and their
    entropies (without gradient) or None, zero where `attention_mask` is 0: TRL's fused head's numbers."""
    import torch

    prompt_len = input_ids.size(1) - logits_to_keep
    scaled_logits = _scaled_logits(model, temperature, autocast)
    logps: list[Any] = []
    entropies: list[Any] = []
    for start, end in prompt_runs(input_ids[:, :prompt_len], attention_mask[:, :prompt_len]):
        with autocast():
            hidden = _completion_hidden(model, input_ids[start:end], attention_mask[start:end], prompt_len)
        labels = input_ids[start:end, prompt_len:]
        keep = attention_mask[start:end, prompt_len:].to(torch.float32)
        for row in range(end - start):
            logps.append(_label_logps(scaled_logits, hidden[row], labels[row]) * keep[row])
            if compute_entropy:
                with torch.no_grad():
                    row_logps = scaled_logits(hidden[row]).log_softmax(-1)
                    entropies.append(-(row_logps.exp() * row_logps).sum(-1) * keep[row])
    return torch.stack(logps), torch.stack(entropies) if compute_entropy else None


def _completion_hidden(model: Any, ids: Any, mask: Any, prompt_len: int) -> Any:
    """The hidden states that predict each completion token: the prompt's last one, then the completion's own
    but its last, for rows that share their prompt."""
    import torch

    backbone = _causal_lm(model).base_model
    keyword = _cache_keyword(backbone)
    rows = ids.size(0)
    first = backbone(input_ids=ids[:1, :prompt_len], attention_mask=mask[:1, :prompt_len], use_cache=True)
    cache = getattr(first, "cache", None)
    if cache is None:  # transformers before the `cache` keyword
        cache = first.past_key_values
    cache.batch_repeat_interleave(rows)
    second = backbone(input_ids=ids[:, prompt_len:], attention_mask=mask, use_cache=True, **{str(keyword): cache})
    last_prompt = first.last_hidden_state[:, -1:].expand(rows, -1, -1)
    return torch.cat([last_prompt, second.last_hidden_state[:, :-1]], dim=1)


def _scaled_logits(
    model: Any, temperature: float, autocast: Callable[[], AbstractContextManager[Any]]
) -> Callable[[Any], Any]:
    """Hidden states to float32 logits through the LM head, soft-capped where the model caps them, divided by the
    sampling temperature."""
    import torch

    causal = _causal_lm(model)
    head = causal.get_output_embeddings()
    cap = getattr(causal.config.get_text_config(), "final_logit_softcapping", None)

    def scaled(states: Any) -> Any:
        with autocast():
            logits = head(states).float()
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        return logits / temperature

    return scaled


def _label_logps(scaled_logits: Callable[[Any], Any], hidden: Any, labels: Any) -> Any:
    """One row's log-probs of its labels, the logits recomputed in the backward pass rather than kept: a row's
    logits over Gemma's 262k-token vocabulary take up to 0.5 GB in float32."""
    import torch
    from torch.utils.checkpoint import checkpoint

    def label_logps(states: Any) -> Any:
        return scaled_logits(states).log_softmax(-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)

    return checkpoint(label_logps, hidden, use_reentrant=False) if torch.is_grad_enabled() else label_logps(hidden)
