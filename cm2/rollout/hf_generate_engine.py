"""The `generate` engine of the in-process policy: transformers' own sampling with a dynamic cache.

Kept beside cm2's decode loop (cm2.rollout.decoder) so both can be compared in one run. Log-probs are
recorded by a logits processor as tokens are sampled, never by keeping every step's full-vocabulary
scores. (Imported lazily: it needs torch and transformers.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from cm2.rollout.policy import SamplingConfig
from cm2.rollout.sampling import ChosenLogprobs


def generate_tokens(
    model: Any,
    tokenizer: Any,
    contexts: Sequence[list[int]],
    sampling: SamplingConfig,
    *,
    pad_id: int,
    stop_token_ids: Sequence[int],
    stop_strings: Sequence[str],
) -> tuple[list[list[int]], list[list[float]]]:
    """Left-pad `contexts` into one `generate` call; the new tokens of each row and their log-probs
    (finished rows run on with padding: the caller cuts each row at its stop)."""
    from transformers import LogitsProcessorList, StoppingCriteriaList

    device = next(model.parameters()).device
    width = max(len(c) for c in contexts)
    input_ids = torch.full((len(contexts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(contexts), width), dtype=torch.long)
    for row, context in enumerate(contexts):
        input_ids[row, width - len(context) :] = torch.tensor(context)
        attention[row, width - len(context) :] = 1
    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    do_sample = sampling.temperature > 0
    recorder = ChosenLogprobs(sampling.temperature)
    kwargs: dict[str, Any] = {
        "max_new_tokens": sampling.max_new_tokens,
        "do_sample": do_sample,
        "eos_token_id": list(stop_token_ids) or None,
        "pad_token_id": pad_id,
        # A NaN or inf logit (seen with bf16 Gemma after SFT) would crash CUDA sampling.
        "remove_invalid_values": True,
        "logits_processor": LogitsProcessorList([recorder]),
    }
    if do_sample:
        kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
    if stop_strings:
        from cm2.llm.hf_stopping import StopOnText

        stop = StopOnText(tokenizer, tuple(stop_strings), prompt_width=width)
        kwargs["stopping_criteria"] = StoppingCriteriaList([stop])
    with torch.no_grad():
        sequences = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device), **kwargs)
    new_tokens = sequences[:, width:]
    logprobs = recorder.finish(new_tokens)
    return new_tokens.cpu().tolist(), logprobs.cpu().tolist()
