"""A tiny random causal LM with a real tokenizer, built offline in about a second (tests and demos).

The tokenizer is a byte-level BPE trained with the `tokenizers` library on a few kilobytes of generated
text and wrapped in `PreTrainedTokenizerFast` with a small ChatML-style chat template; the model is a
2-layer Qwen2 or Llama with hidden size 64. Everything loads back with `from_pretrained(path)`.
"""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path
from typing import Literal

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
]

_SUBJECTS = ["the user", "the assistant", "a tool", "the weather service", "the calendar", "the shop", "a flight"]
_VERBS = ["asks for", "returns", "books", "cancels", "checks", "finds", "lists", "updates", "reads", "sends"]
_OBJECTS = ["a table", "the forecast", "two tickets", "an order", "the balance", "a meeting", "the results"]
_PLACES = ["in Paris", "for tomorrow", "at noon", "by email", "in the morning", "near the station", "today"]


def tiny_chat_template() -> str:
    """The Jinja chat template the tiny tokenizer ships with (tools listed in the system turn)."""
    return resources.files("cm2.llm.testing").joinpath("tiny_chat_template.jinja").read_text(encoding="utf-8")


def training_text(seed: int = 0, sentences: int = 120) -> list[str]:
    """A few kilobytes of simple sentences, JSON snippets and chat markup to train the BPE on."""
    rng = random.Random(seed)
    lines = []
    for i in range(sentences):
        words = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_PLACES)]
        lines.append(" ".join(words).capitalize() + ".")
        if i % 4 == 0:
            call = {"name": f"get_{rng.choice(['weather', 'time', 'order'])}", "arguments": {"id": i, "ok": True}}
            lines.append(f"<tool_call>{json.dumps(call)}</tool_call>")
        if i % 5 == 0:
            lines.append(f'<think>I should check {rng.choice(_OBJECTS)} first.</think> Done: {{"answer": {i}}}')
    lines.append('<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi! [1, 2, 3] {"a": null}<|im_end|>')
    return lines


def train_bpe(corpus: list[str], special_tokens: list[str], vocab_size: int):  # type: ignore[no-untyped-def]
    """A byte-level BPE (every string round-trips) trained on `corpus`, with `special_tokens` first."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(corpus, trainer=trainer)
    return bpe


def build_tiny_tokenizer(seed: int = 0, vocab_size: int = 512):  # type: ignore[no-untyped-def]
    """A `PreTrainedTokenizerFast` with a byte-level BPE (every string round-trips) and a chat template."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(training_text(seed), SPECIAL_TOKENS, vocab_size),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=tiny_chat_template(),
    )


def random_tiny_lm(  # type: ignore[no-untyped-def]
    tokenizer,
    *,
    arch: Literal["qwen2", "llama"] = "qwen2",
    hidden_size: int = 64,
    num_layers: int = 2,
    max_positions: int = 2048,
    seed: int = 0,
):
    """A tiny randomly initialised `arch` causal LM over `tokenizer`'s vocabulary and special tokens."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    common = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 2,
        "num_hidden_layers": num_layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": max_positions,
        "tie_word_embeddings": True,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
    }
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(Qwen2Config(**common)) if arch == "qwen2" else LlamaForCausalLM(LlamaConfig(**common))


def build_tiny_model(
    path: str | Path,
    *,
    arch: Literal["qwen2", "llama"] = "qwen2",
    hidden_size: int = 64,
    num_layers: int = 2,
    seed: int = 0,
) -> Path:
    """Write a tiny random model and its tokenizer to `path` (created) and return it."""
    from transformers import GenerationConfig

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(seed)
    model = random_tiny_lm(tokenizer, arch=arch, hidden_size=hidden_size, num_layers=num_layers, seed=seed)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def tiny_gemma3(sliding_window: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """A random Gemma 3 of 4 layers (3 sliding-window, 1 global) over token ids 0-255 (0 pads, 1 ends), no
    tokenizer: for checks that a window shorter than the context is handled."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        vocab_size=256,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=4,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=sliding_window,
        layer_types=["sliding_attention"] * 3 + ["full_attention"],
        max_position_embeddings=256,
        pad_token_id=0,
        eos_token_id=1,
    )
    torch.manual_seed(seed)
    return Gemma3ForCausalLM(config)
