"""Sampling a next token and recording its log-prob the way the GRPO trainer will recompute it.

TRL's loss scores a completion token with `log_softmax(logits / temperature)` over the whole vocabulary
(`trl.trainer.utils.add_fused_lm_head`, after the model's own soft-capping); top-p is not part of it.
So the log-prob kept for a sampled token is that one: under the temperature-scaled, untruncated
distribution. The token itself is drawn from the top-p-truncated distribution, as the sampler promises.
With greedy decoding (temperature 0) the kept log-prob is the plain `log_softmax(logits)`.
(Imported lazily: it needs torch.)
"""

from __future__ import annotations

from typing import Any

import torch


def scaled_logprobs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-probs of the temperature-scaled distribution, in float32 (temperature 0 counts as 1)."""
    scores = logits.float()
    if temperature > 0 and temperature != 1.0:
        scores = scores / temperature
    return torch.log_softmax(scores, dim=-1)


def top_p_mask(logprobs: torch.Tensor, top_p: float) -> torch.Tensor:
    """True for the tokens outside the smallest set whose probability reaches `top_p` (the best token stays)."""
    sorted_lp, order = torch.sort(logprobs, dim=-1, descending=True)
    mass_before = sorted_lp.exp().cumsum(dim=-1) - sorted_lp.exp()
    drop_sorted = mass_before >= top_p
    drop_sorted[..., 0] = False
    return torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)


def sample_next(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One token per row of `logits` (batch, vocab) and its log-prob (see the module docstring).

    Non-finite logits (seen with bf16 Gemma after SFT) never win: NaN becomes the lowest value.
    Sampling uses the exponential-race trick, which needs no host synchronisation.
    """
    logits = torch.nan_to_num(logits.float(), nan=torch.finfo(torch.float32).min)
    logprobs = scaled_logprobs(logits, temperature)
    if temperature <= 0:
        token = logprobs.argmax(dim=-1)
    else:
        candidates = logprobs
        if top_p < 1.0:
            candidates = logprobs.masked_fill(top_p_mask(logprobs, top_p), float("-inf"))
        race = torch.empty_like(candidates).exponential_(1.0, generator=generator)
        token = (candidates - race.log()).argmax(dim=-1)
    return token, logprobs.gather(-1, token.unsqueeze(-1)).squeeze(-1)


class ChosenLogprobs:
    """A `generate` logits processor that records each sampled token's log-prob without keeping scores.

    Custom processors run before `generate`'s temperature and top-p warpers, so each call sees the raw
    logits: it keeps this step's scaled log-softmax and, at the next call, gathers the token that was
    sampled from it. `finish` gathers the last step from the returned sequences.
    """

    def __init__(self, temperature: float):
        self.temperature = temperature
        self.previous: torch.Tensor | None = None
        self.chosen: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> Any:
        if self.previous is not None:
            self.chosen.append(self.previous.gather(1, input_ids[:, -1:]).squeeze(1))
        self.previous = scaled_logprobs(scores, self.temperature)
        return scores

    def finish(self, new_tokens: torch.Tensor) -> torch.Tensor:
        """(batch, steps) log-probs of `new_tokens`, the generated part of the sequences."""
        if self.previous is not None and len(self.chosen) < new_tokens.shape[1]:
            self.chosen.append(self.previous.gather(1, new_tokens[:, len(self.chosen)].unsqueeze(1)).squeeze(1))
        self.previous = None
        if not self.chosen:
            return torch.zeros(new_tokens.shape, dtype=torch.float32)
        return torch.stack(self.chosen, dim=1)
