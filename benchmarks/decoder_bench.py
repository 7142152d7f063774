"""What the decoder benchmarks share: their model flags, a random model of a real shape, and random prompts."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from grpo_throughput import build


def decoder_arguments(parser: argparse.ArgumentParser, *, cache_len: int, prompt: int, tokens: int) -> None:
    """--device, --shape (default Gemma-3-270M's), --vocab, --cache-len, --prompt and --tokens."""
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--shape", default="gemma3-270m")
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--cache-len", type=int, default=cache_len)
    parser.add_argument("--prompt", type=int, default=prompt, help="prompt tokens per row")
    parser.add_argument("--tokens", type=int, default=tokens, help="new tokens per row")


def random_model(args: argparse.Namespace, dtype: Any) -> Any:
    """A randomly initialised model of `args.shape` in `dtype` on `args.device`, in eval mode."""
    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as folder:
        path = build(Path(folder) / "model", args.shape, args.vocab)
        return AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(args.device).eval()


def random_prompts(rows: int, length: int, vocab: int) -> list[list[int]]:
    """`rows` prompts of `length` token ids, the same for the same `rows`."""
    import torch

    generator = torch.Generator().manual_seed(rows)
    return [torch.randint(3, vocab, (length,), generator=generator).tolist() for _ in range(rows)]
