"""Loading policies for training: checkpoints or GGUF files, cm2's chat template, new special tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from cm2.rollout.chat_template import ensure_chat_template

# Related words whose mean embedding initialises each new special token (DESIGN.md §1).
SPECIAL_TOKEN_SEEDS: dict[str, list[str]] = {
    "<think>": ["think", "reason", "thought"],
    "</think>": ["think", "end", "done"],
    "<tool_call>": ["tool", "call", "function"],
    "</tool_call>": ["tool", "call", "end"],
    "<tool_response>": ["tool", "response", "result"],
    "</tool_response>": ["tool", "response", "end"],
}


class ModelConfig(BaseModel):
    """Where the policy comes from and how to prepare it."""

    path: str = Field(description="A checkpoint folder, a hub id available offline, or a folder holding a GGUF.")
    gguf_file: str | None = Field(default=None, description="GGUF file name inside `path`, for GGUF checkpoints.")
    dtype: str = Field(default="float32", description="float32, bfloat16 or float16.")
    chat_template: str | None = Field(default=None, description="A Jinja file; default: the model's or cm2's.")
    add_special_tokens: bool = Field(default=False, description="Add cm2's tags as special tokens.")


class LoraAdapterConfig(BaseModel):
    """A LoRA adapter (peft) instead of a full fine-tune; it is merged into the final model."""

    r: Annotated[int, Field(ge=1)] = 16
    alpha: Annotated[int, Field(ge=1)] = 32
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.05
    target_modules: list[str] | Literal["all-linear"] = Field(
        default="all-linear", description="Module names to adapt, or 'all-linear'."
    )


def load_tokenizer(config: ModelConfig) -> Any:
    from transformers import AutoTokenizer

    kwargs: dict[str, Any] = {"gguf_file": config.gguf_file} if config.gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(config.path, **kwargs)
    template = Path(config.chat_template).read_text(encoding="utf-8") if config.chat_template else None
    ensure_chat_template(tokenizer, template)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_policy(config: ModelConfig) -> tuple[Any, Any]:
    """The model and tokenizer, ready to train (a GGUF's quantizer flag is cleared)."""
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(config)
    from cm2.llm.attention import attention_kwargs

    kwargs: dict[str, Any] = {"gguf_file": config.gguf_file} if config.gguf_file else attention_kwargs(config.path)
    model = AutoModelForCausalLM.from_pretrained(config.path, dtype=getattr(torch, config.dtype), **kwargs)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and config.gguf_file:
        quantizer.remove_quantization_config(model)
    if config.add_special_tokens:
        add_special_tokens(model, tokenizer, SPECIAL_TOKEN_SEEDS)
    return model, tokenizer


def add_special_tokens(model: Any, tokenizer: Any, seeds: dict[str, list[str]]) -> list[str]:
    """Add the tokens of `seeds` that the tokenizer lacks; each new embedding row (input and output)
    is the mean embedding of the tokens of its related words. Returns the tokens added."""
    import torch

    vocab = tokenizer.get_vocab()
    new = [token for token in seeds if token not in vocab]
    if not new:
        return []
    tokenizer.add_special_tokens({"additional_special_tokens": new}, replace_extra_special_tokens=False)
    # Grow only: some models (Qwen) pad their tables past the vocabulary, and new ids may fit already.
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    tables = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight.data_ptr() != tables[0].data_ptr():
        tables.append(output.weight)
    with torch.no_grad():
        for token in new:
            seed_ids = [i for word in seeds[token] for i in tokenizer(word, add_special_tokens=False)["input_ids"]]
            token_id = tokenizer.convert_tokens_to_ids(token)
            for table in tables:
                table[token_id] = table[seed_ids].mean(dim=0)
    return new


def renamed_training_fields(config_class: Any, *, checkpointing: bool, warmup: float) -> dict[str, Any]:
    """Activation checkpointing and the warm-up share as `config_class` (a transformers `TrainingArguments`) spells
    them: transformers renamed `gradient_checkpointing` to `activation_checkpointing` and folded `warmup_ratio`
    into `warmup_steps` (a float below 1 is a share of the steps)."""
    import dataclasses

    fields = {field.name for field in dataclasses.fields(config_class)}
    checkpoint_key = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    warmup_key = "warmup_ratio" if "warmup_ratio" in fields else "warmup_steps"
    return {checkpoint_key: checkpointing, warmup_key: warmup}


def cpu_training(requested: bool) -> bool:
    """`use_cpu` as transformers takes it: as configured, and always without a GPU. A config written for a GPU
    (bfloat16 included) then trains on the CPU instead of stopping in transformers' "doesn't support bf16/gpu"
    check. Decided when the trainer is built, not in the config, so no stage's fingerprint changes with the
    machine that plans or runs it."""
    import torch

    return requested or not torch.cuda.is_available()
