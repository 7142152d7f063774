"""A stopping criterion on generated text (imported lazily: it needs torch and transformers)."""

from __future__ import annotations

from typing import Any

import torch
from transformers import StoppingCriteria


class StopOnText(StoppingCriteria):
    """Stop a row once its *generated* text contains one of `stops`.

    transformers' own `stop_strings` also matches text that straddles the end of the prompt (a prompt
    ending in a newline plus one generated newline matches "\\n\\n"), which cuts answers before they start.
    """

    def __init__(self, tokenizer: Any, stops: tuple[str, ...], prompt_width: int):
        self.tokenizer = tokenizer
        self.stops = stops
        self.width = prompt_width
        self.window = 4 * max(len(stop) for stop in stops) + 4  # a character spans at most 4 byte-level tokens

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        tail = input_ids[:, self.width :][:, -self.window :]
        texts = self.tokenizer.batch_decode(tail, skip_special_tokens=False)
        done = [any(stop in text for stop in self.stops) for text in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]
