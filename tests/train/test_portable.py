"""A model folder packed into small bfloat16 shards (a tensor larger than a shard is cut into row blocks) and
unpacked into a folder that loads with the same weights; a missing or damaged shard is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cm2.train.portable import MANIFEST, main, pack_model, unpack_model

SHARD_MIB = 0.3  # the tiny model's embedding table is larger: it is cut


def test_a_packed_model_travels_in_small_shards_and_loads_back(tiny_gemma_model: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    files = pack_model(tiny_gemma_model, tmp_path / "pack", max_shard_mib=SHARD_MIB)
    assert files[-1].name == MANIFEST and len([f for f in files if f.suffix == ".safetensors"]) > 2
    assert all(f.stat().st_size <= SHARD_MIB * 2**20 for f in files)
    manifest = json.loads((tmp_path / "pack" / MANIFEST).read_text())
    assert any(len(entry["parts"]) > 1 for entry in manifest["tensors"].values())

    main(["unpack", str(tmp_path / "pack"), str(tmp_path / "model")])
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "model")  # in the config's dtype, as RL loads it
    original = AutoModelForCausalLM.from_pretrained(tiny_gemma_model, dtype=torch.bfloat16)
    mine, theirs = loaded.state_dict(), original.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k].to(mine[k].dtype)) for k in mine)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert tokenizer.get_vocab() == AutoTokenizer.from_pretrained(tiny_gemma_model).get_vocab()


def test_a_missing_or_damaged_shard_is_named_before_anything_is_written(tiny_gemma_model: Path, tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    main(["pack", str(tiny_gemma_model), str(pack), "--max-shard-mib", str(SHARD_MIB)])
    second = pack / "model-00002.safetensors"
    data = second.read_bytes()
    second.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ValueError, match=r"model-00002\.safetensors"):
        unpack_model(pack, tmp_path / "model")
    second.unlink()
    with pytest.raises(FileNotFoundError, match=r"model-00002\.safetensors"):
        unpack_model(pack, tmp_path / "model")
    assert not (tmp_path / "model").exists()
    with pytest.raises(SystemExit, match="not empty"):
        main(["pack", str(tiny_gemma_model), str(pack)])
