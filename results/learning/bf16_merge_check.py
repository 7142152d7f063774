"""Does the held-out evaluation, which loads a merged RL policy in bfloat16, play the policy RL trained (the
adapter applied beside float32 weights)? Teacher-forced on recorded held-out play: the share of positions where
the greedy token differs from the unmerged float32 policy's, and the mean KL from it, for the merged policy in
bfloat16 and for the SFT model in bfloat16 (the distance RL moved the policy).

    python results/learning/bf16_merge_check.py SFT_DIR ADAPTER_DIR HELDOUT_TRAJECTORIES.jsonl.gz [DIALOGUES]
"""

from __future__ import annotations

import gzip
import json
import sys
from typing import Any

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

WINDOW = 1500  # tokens of each sequence scored (its end): enough for the completions, light on a CPU


def load(sft: str, adapter: str | None, dtype: torch.dtype, merge: bool) -> Any:
    model: Any = AutoModelForCausalLM.from_pretrained(sft, dtype=torch.float32)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
        if merge:
            model = model.merge_and_unload()
    return model.to(dtype).eval()


def main(sft: str, adapter: str, trajectories: str, dialogues: int) -> None:
    with gzip.open(trajectories, "rt") as lines:
        rows = [json.loads(line) for line in lines][:dialogues]
    trained = load(sft, adapter, torch.float32, merge=False)
    others = {
        "merged, bf16": load(sft, adapter, torch.bfloat16, merge=True),
        "SFT, bf16": load(sft, None, torch.bfloat16, merge=False),
    }
    differ = dict.fromkeys(others, 0)
    kl = dict.fromkeys(others, 0.0)
    positions = 0
    with torch.no_grad():
        for row in rows:
            ids = row["tokens"]["prompt_ids"] + row["tokens"]["completion_ids"]
            start = max(len(row["tokens"]["prompt_ids"]) - max(0, len(ids) - WINDOW), 1)
            x = torch.tensor([ids[-WINDOW:]])
            reference = trained(x).logits[0, start - 1 : -1].float().log_softmax(-1)
            positions += len(reference)
            for name, model in others.items():
                logp = model(x).logits[0, start - 1 : -1].float().log_softmax(-1)
                differ[name] += int((logp.argmax(-1) != reference.argmax(-1)).sum())
                kl[name] += float((reference.exp() * (reference - logp)).sum())
    print(f"{positions} positions of {len(rows)} dialogues, against the unmerged float32 policy:")
    for name in others:
        print(f"  {name}: greedy token differs at {differ[name] / positions:.2%}, mean KL {kl[name] / positions:.4f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 6)
