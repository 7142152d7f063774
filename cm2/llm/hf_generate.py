"""Synchronous generation with a transformers causal LM: chat template, batching, exact token counts."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cm2.llm.toolcalls import template_messages

DEFAULT_MAX_NEW_TOKENS = 512


@dataclass(frozen=True)
class GenParams:
    """Generation settings shared by every prompt of one batch."""

    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class HFGenerator:
    """A causal LM and its tokenizer, loaded with `from_pretrained` (offline paths work).

    `temperature` None or 0 means greedy decoding. Calls are serialised by a lock (the model is not
    re-entrant); a batch of prompts is generated together with left padding.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        chat_template: str | Path | None = None,
        device: str = "cpu",
        dtype: str = "auto",
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_path = str(model_path)
        self.device = device
        tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        if chat_template is not None:
            tokenizer.chat_template = Path(chat_template).read_text(encoding="utf-8")
        if not tokenizer.chat_template:
            raise ValueError(f"{self.model_path}: the tokenizer has no chat template; pass one (a Jinja file)")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        self.tokenizer = tokenizer
        torch_dtype: Any = dtype if dtype == "auto" else getattr(torch, dtype)
        model: Any = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=torch_dtype)
        self.model = model.to(device).eval()
        self.stop_ids = self._stop_ids()
        self.lock = threading.Lock()

    def _stop_ids(self) -> list[int]:
        ids: set[int] = set()
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        for value in eos if isinstance(eos, list) else [eos]:
            if isinstance(value, int):
                ids.add(value)
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        return sorted(ids)

    def template_digest(self) -> str:
        """sha256 of the chat template (what the prompt looks like is part of a model's identity)."""
        return hashlib.sha256(str(self.tokenizer.chat_template).encode("utf-8")).hexdigest()[:16]

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        """The prompt text for `messages` (and `tools`), ending where the assistant starts to answer."""
        text = self.tokenizer.apply_chat_template(
            template_messages(messages),
            tools=list(tools) if tools else None,
            add_generation_prompt=True,
            tokenize=False,
        )
        return str(text)

    def generate(self, prompts: list[str], params: GenParams) -> list[Generation]:
        """Generate one answer per prompt; token counts are exact (prompt without padding, answer up to
        and including its end-of-sequence token)."""
        import torch
        from transformers import StoppingCriteriaList

        from cm2.llm.hf_stopping import StopOnText

        tokenizer = self.tokenizer
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": self.stop_ids,
        }
        if params.temperature:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p or 1.0, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with self.lock, torch.inference_mode():
            encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            if params.stop:
                criterion = StopOnText(tokenizer, params.stop, encoded["input_ids"].shape[1])
                kwargs["stopping_criteria"] = StoppingCriteriaList([criterion])
            if params.seed is not None:
                torch.manual_seed(params.seed)
            output = self.model.generate(**encoded, **kwargs)
        width = encoded["input_ids"].shape[1]
        prompt_counts = encoded["attention_mask"].sum(dim=1).tolist()
        return [
            self._decode(row[width:].tolist(), int(count), params)
            for row, count in zip(output, prompt_counts, strict=True)
        ]

    def _decode(self, ids: list[int], prompt_tokens: int, params: GenParams) -> Generation:
        ended = False
        pad = self.tokenizer.pad_token_id
        for index, token in enumerate(ids):
            if token in self.stop_ids:
                ids, ended = ids[: index + 1], True
                break
            if token == pad:  # a finished row padded after a stop string
                ids = ids[:index]
                break
        count = len(ids)
        content_ids = ids[:-1] if ended else ids
        text = str(self.tokenizer.decode(content_ids, skip_special_tokens=False))
        stopped = False
        for stop in params.stop:
            cut = text.find(stop)
            if cut >= 0:
                text, stopped = text[:cut], True
        finish = "stop" if ended or stopped or count < params.max_new_tokens else "length"
        return Generation(text=text, prompt_tokens=prompt_tokens, completion_tokens=count, finish_reason=finish)
