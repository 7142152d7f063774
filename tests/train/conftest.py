"""Tiny random models for the training tests, built offline and loaded back through `from_pretrained`.

- `tiny_chatml_model`: cm2.llm.testing's tiny Qwen2 (ChatML template, cm2's tags already in its vocabulary).
- `tiny_gemma_model`: a Gemma-like tiny Llama: special tokens <bos>, <eos>, <pad>, <start_of_turn>,
  <end_of_turn>, no chat template (so cm2's Gemma template is used) and none of cm2's tags, like the
  real Gemma-3-270M GGUF.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cm2.data.samples import sample_path
from cm2.data.synthetic import synthetic_dialogues
from cm2.schema import Dialogue

GEMMA_SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"]


def build_tiny_gemma_like(path: Path, vocab_size: int = 2000) -> Path:
    """A 2-layer Llama (hidden 64) with a byte-level BPE tokenizer using Gemma's turn markers.

    The BPE also learns from the training dialogues themselves, so they take few tokens (as real text
    does with a real tokenizer) and the CPU training tests stay fast.
    """
    from transformers import PreTrainedTokenizerFast

    from cm2.llm.testing.tiny_model import random_tiny_lm, train_bpe, training_text

    corpus = [
        *training_text(seed=1),
        *(json.dumps(record, ensure_ascii=False) for record in training_records()),
        "<start_of_turn>user\nhello<end_of_turn>\n<start_of_turn>model\nhi",
    ]
    bpe = train_bpe(corpus, GEMMA_SPECIAL_TOKENS, vocab_size)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")
    random_tiny_lm(tokenizer, arch="llama", max_positions=4096).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_gemma_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gemma_like(tmp_path_factory.mktemp("tiny-gemma"))


@pytest.fixture(scope="session")
def tiny_chatml_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cm2.llm.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-chatml"))


def training_records(synthetic: int = 4, seed: int = 0) -> list[dict[str, Any]]:
    """The shipped CM2 reference sample plus `synthetic` generated multi-turn tool-use dialogues."""
    records: list[dict[str, Any]] = json.loads(sample_path().read_text(encoding="utf-8"))
    records += [item.record for item in synthetic_dialogues(synthetic, seed=seed)]
    return records


@pytest.fixture(scope="session")
def sft_data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JSONL file of training dialogues (read back through cm2.data.io like real data)."""
    path = tmp_path_factory.mktemp("sft-data") / "dialogues.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in training_records()), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def training_dialogues() -> list[Dialogue]:
    from cm2.data.adapters import to_dialogue

    return [to_dialogue(record) for record in training_records()]
