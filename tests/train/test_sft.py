"""Cold-start SFT runs on a tiny random model (CPU): full and LoRA, special tokens, resume, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cm2.train.models import SPECIAL_TOKEN_SEEDS, ModelConfig, add_special_tokens, load_policy
from cm2.train.sft import MANIFEST, SFTError, run_sft
from cm2.train.sft_config import SFTRunConfig

REPO = Path(__file__).resolve().parents[2]


def _config(model_path: Path, data_path: Path, out: Path, **overrides: Any) -> SFTRunConfig:
    values: dict[str, Any] = {
        "model": {"path": str(model_path)},
        "data": {"path": str(data_path)},
        "output_dir": str(out),
        "max_steps": 2,
        "per_device_batch_size": 1,
        "gradient_accumulation_steps": 1,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.0,
        "max_length": 1024,
        "use_cpu": True,
        "logging_steps": 1,
        "save_steps": 1,
        "progress": False,
    }
    values.update(overrides)
    return SFTRunConfig.model_validate(values)


def _weights(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_new_token_rows_are_the_mean_of_related_words(tiny_gemma_model: Path) -> None:
    model, tokenizer = load_policy(ModelConfig(path=str(tiny_gemma_model)))
    before = model.get_input_embeddings().weight.detach().clone()
    added = add_special_tokens(model, tokenizer, SPECIAL_TOKEN_SEEDS)
    assert added == list(SPECIAL_TOKEN_SEEDS)
    table = model.get_input_embeddings().weight
    assert table.shape[0] == len(tokenizer) == before.shape[0] + len(added)
    for token, words in SPECIAL_TOKEN_SEEDS.items():
        ids = [i for word in words for i in tokenizer(word, add_special_tokens=False)["input_ids"]]
        assert max(ids) < before.shape[0]  # seeds are old tokens
        token_id = tokenizer.convert_tokens_to_ids(token)
        assert tokenizer(token, add_special_tokens=False)["input_ids"] == [token_id]
        assert (table[token_id] - before[ids].mean(dim=0)).abs().max().item() < 1e-6
    assert model.get_output_embeddings().weight.data_ptr() == table.data_ptr()  # tied: output rows too
    assert add_special_tokens(model, tokenizer, SPECIAL_TOKEN_SEEDS) == []  # idempotent


def test_padded_embedding_tables_are_not_shrunk(tiny_gemma_model: Path) -> None:
    model, tokenizer = load_policy(ModelConfig(path=str(tiny_gemma_model)))
    model.resize_token_embeddings(len(tokenizer) + 16, mean_resizing=False)  # padded like Qwen's tables
    rows = model.get_input_embeddings().weight.shape[0]
    seeds = {"<plan>": ["plan", "think"]}
    assert add_special_tokens(model, tokenizer, seeds) == ["<plan>"]
    table = model.get_input_embeddings().weight
    assert table.shape[0] == rows
    ids = [i for word in seeds["<plan>"] for i in tokenizer(word, add_special_tokens=False)["input_ids"]]
    assert (table[tokenizer.convert_tokens_to_ids("<plan>")] - table[ids].mean(dim=0)).abs().max().item() < 1e-6


def test_full_finetune_two_steps(tiny_gemma_model: Path, sft_data_file: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cm2.rollout.chat_template import gemma_tools_template

    data = {"path": str(sft_data_file), "eval_path": str(sft_data_file), "limit": 2}
    result = run_sft(_config(tiny_gemma_model, sft_data_file, tmp_path, data=data, eval_steps=2))
    final = Path(result.final_dir)
    assert result.global_step == 2 and final == tmp_path / "final"
    assert [entry["step"] for entry in result.log_history if "eval_loss" in entry] == [2]
    assert result.data["examples"] == 2 and result.data["trained tokens"] > 0
    assert [entry["step"] for entry in result.log_history if "loss" in entry] == [1, 2]
    assert (tmp_path / "checkpoint-2" / "optimizer.pt").is_file()
    assert list((tmp_path / "runs").glob("*/events.out.tfevents.*"))  # TensorBoard
    tokenizer = AutoTokenizer.from_pretrained(final)
    assert tokenizer.chat_template == gemma_tools_template()
    AutoModelForCausalLM.from_pretrained(final)
    start, end = _weights(tiny_gemma_model), _weights(final)
    assert any((start[name] - end[name]).abs().max().item() > 0 for name in start)
    manifest = json.loads((final / MANIFEST).read_text())
    assert manifest["global_step"] == 2 and manifest["config"]["output_dir"] == str(tmp_path)


def test_lora_with_new_tokens_is_merged(tiny_gemma_model: Path, sft_data_file: Path, tmp_path: Path) -> None:
    config = _config(
        tiny_gemma_model,
        sft_data_file,
        tmp_path,
        model={"path": str(tiny_gemma_model), "add_special_tokens": True},
        lora={"r": 4, "alpha": 8, "dropout": 0.0},
    )
    result = run_sft(config)
    assert result.added_tokens == list(SPECIAL_TOKEN_SEEDS)
    assert (tmp_path / "checkpoint-2" / "adapter_model.safetensors").is_file()
    final = Path(result.final_dir)
    start, end = _weights(tiny_gemma_model), _weights(final)
    assert not any("lora" in name for name in end)  # merged, a plain checkpoint
    base_rows = start["model.embed_tokens.weight"].shape[0]
    assert end["model.embed_tokens.weight"].shape[0] == base_rows + len(SPECIAL_TOKEN_SEEDS)
    # The adapter moved the attention weights, and the new tokens' rows left their initial means.
    q = "model.layers.0.self_attn.q_proj.weight"
    assert (start[q] - end[q]).abs().max().item() > 0
    model, tokenizer = load_policy(ModelConfig(path=str(tiny_gemma_model), add_special_tokens=True))
    initial = model.get_input_embeddings().weight.detach()
    for token in SPECIAL_TOKEN_SEEDS:
        token_id = tokenizer.convert_tokens_to_ids(token)
        assert (end["model.embed_tokens.weight"][token_id] - initial[token_id]).abs().max().item() > 0
    # The old rows are frozen under LoRA.
    assert (end["model.embed_tokens.weight"][:base_rows] - start["model.embed_tokens.weight"]).abs().max() == 0


def test_resume_from_checkpoint(tiny_gemma_model: Path, sft_data_file: Path, tmp_path: Path) -> None:
    run_sft(_config(tiny_gemma_model, sft_data_file, tmp_path))
    with pytest.raises(SFTError, match=r"already holds checkpoints.*--resume"):
        run_sft(_config(tiny_gemma_model, sft_data_file, tmp_path, max_steps=3))
    result = run_sft(_config(tiny_gemma_model, sft_data_file, tmp_path, max_steps=3, resume=True))
    assert result.resumed_from == str(tmp_path / "checkpoint-2")
    assert result.global_step == 3
    assert [entry["step"] for entry in result.log_history if "loss" in entry] == [1, 2, 3]
    assert json.loads((tmp_path / "final" / MANIFEST).read_text())["global_step"] == 3


@pytest.mark.slow
def test_loss_decreases_when_overfitting(tiny_gemma_model: Path, tmp_path: Path) -> None:
    from tests.train.conftest import training_records

    data = tmp_path / "two.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in training_records()[2:4]), encoding="utf-8")
    config = _config(
        tiny_gemma_model,
        data,
        tmp_path / "out",
        max_steps=10,
        learning_rate=1e-2,
        lr_scheduler="constant",
        save_steps=100,
        max_length=512,
    )
    losses = [entry["loss"] for entry in run_sft(config).log_history if "loss" in entry]
    assert len(losses) == 10
    assert sum(losses[-3:]) / 3 < 0.75 * losses[0], losses


def test_empty_data_is_a_clear_error(tiny_gemma_model: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(SFTError, match="no dialogues to train on"):
        run_sft(_config(tiny_gemma_model, empty, tmp_path / "out"))


def test_a_config_written_for_a_gpu_trains_on_the_cpu_when_there_is_none(
    tiny_gemma_model: Path, sft_data_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The experiment's SFT config (bf16, `use_cpu: false`) stopped in transformers' bf16 check on a CPU."""
    from cm2.train.sft import training_arguments

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    config = _config(tiny_gemma_model, sft_data_file, tmp_path, use_cpu=False, bf16=True, max_steps=1)
    assert training_arguments(config, has_eval=False).use_cpu
    assert run_sft(config).global_step == 1
    assert SFTRunConfig.from_yaml(REPO / "configs/experiment/sft.yaml").use_cpu is False  # the config is unchanged


def test_shipped_configs_load() -> None:
    tiny = SFTRunConfig.from_yaml(REPO / "configs" / "sft_tiny.yaml")
    gemma = SFTRunConfig.from_yaml(REPO / "configs" / "sft_gemma270m.yaml", {"model.path": "elsewhere"})
    assert tiny.use_cpu and tiny.max_steps > 0
    assert gemma.model.path == "elsewhere" and gemma.model.add_special_tokens
    assert gemma.epochs == 2 and gemma.warmup_ratio == 0.1 and gemma.lr_scheduler == "cosine"
    assert gemma.effective_batch_size == 64


def test_cli_train_sft(tiny_chatml_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cm2.cli import app

    monkeypatch.chdir(REPO)  # the shipped config names the bundled sample relative to the repository
    out = tmp_path / "run"
    base = ["train", "sft", "--config", "configs/sft_tiny.yaml", "--set", f"model.path={tiny_chatml_model}"]
    runner = CliRunner()
    first = runner.invoke(app, [*base, "--set", f"output_dir={out}", "--set", "max_steps=1"])
    assert first.exit_code == 0, first.output
    assert (out / "final" / "config.json").is_file() and (out / "checkpoint-1").is_dir()
    again = runner.invoke(app, [*base, "--set", f"output_dir={out}", "--set", "max_steps=2"])
    assert again.exit_code == 1 and "--resume" in again.output
    resumed = runner.invoke(app, [*base, "--set", f"output_dir={out}", "--set", "max_steps=2", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "final" / MANIFEST).read_text())["global_step"] == 2
    assert "resumed from" in resumed.output and "train loss" in resumed.output  # SFTResult.summary()
    bad = runner.invoke(app, ["train", "sft", "--config", "configs/sft_tiny.yaml", "--set", "max_steps=x"])
    assert bad.exit_code == 2 and "max_steps" in bad.output
