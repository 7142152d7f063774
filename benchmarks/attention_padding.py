"""Where padded Gemma 3 batches turn NaN: one training forward and backward per attention implementation.

A Gemma-3-270M-shaped model (random weights, bf16) on a batch whose rows are padded, right and left, by
more than the 512-token sliding window, as SFT and GRPO batches are. For eager, SDPA and cm2's
padding-safe SDPA it prints: non-finite logits at real and at padding positions, the loss, whether the
gradient norm is finite, and the largest logit gap to eager at real positions. Needs a GPU.

    python benchmarks/attention_padding.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from grpo_throughput import build

from cm2.llm.attention import register_padded_sdpa


def one_pass(model_dir: Path, attention: str, ids: Any, mask: Any, device: str) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, attn_implementation=attention)
    model = model.to(device).train()
    logits = model(input_ids=ids, attention_mask=mask).logits
    real = mask.bool()
    labels = ids.masked_fill(~real, -100)
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten())
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
    result = {
        "nonfinite_real": int((~logits[real].isfinite()).any(-1).sum()),
        "nonfinite_pad": int((~logits[~real].isfinite()).any(-1).sum()),
        "loss": float(loss),
        "grad_norm_finite": bool(norm.isfinite()),
        "logits": logits[real].detach().float(),
    }
    del model
    torch.cuda.empty_cache()
    return result


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=1536)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny Gemma 3 shape (window 16), for a CPU smoke run")
    args = parser.parse_args()
    shape, vocab = ("tiny-gemma3", 4096) if args.tiny else ("gemma3-270m", 262_144)
    register_padded_sdpa()
    length = args.length
    torch.manual_seed(0)
    ids = torch.randint(10, vocab - 10, (4, length))
    mask = torch.ones_like(ids)
    mask[1, length // 4 :] = 0  # right padding longer than the window (SFT, GRPO completions)
    mask[2, : length - length // 5] = 0  # left padding longer than the window (GRPO prompts)
    mask[3, : length // 8] = 0
    mask[3, length // 2 :] = 0
    ids, mask = ids.to(args.device), mask.to(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build(Path(tmp) / "model", shape, vocab)
        results = {name: one_pass(model_dir, name, ids, mask, args.device) for name in ("eager", "sdpa", "cm2_sdpa")}
    device = torch.cuda.get_device_name() if args.device == "cuda" else args.device
    print(f"\n{device} | torch {torch.__version__} | {shape}, bf16, 4 rows x {length}, padding > window")
    print(f"{'attention':<10}{'NaN real':>10}{'NaN pad':>10}{'loss':>10}{'grad ok':>9}{'max |diff| vs eager':>22}")
    for name, r in results.items():
        gap = float((r["logits"] - results["eager"]["logits"]).abs().max())
        print(
            f"{name:<10}{r['nonfinite_real']:>10}{r['nonfinite_pad']:>10}{r['loss']:>10.4f}"
            f"{r['grad_norm_finite']!s:>9}{gap:>22.4f}"
        )


if __name__ == "__main__":
    main()
