"""Run 17: a finished LoRA RL run's final model (its kept step) merged again from the saved adapter, as
`cm2.train.grpo.final_model` now does, and its held-out evaluation dropped, so that the same experiment
command evaluates the kept step again and rewrites the results. Runs 11 and 14 evaluated the last step's
weights under the kept step's name.

    python results/learning/remerge_kept.py ~/exp/seed0
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from cm2.train.best import BEST_DIR, merge_saved_adapter, read_best
from cm2.train.models import ModelConfig, load_tokenizer


def merge_kept(rl: Path, dest: Path) -> int:
    """The RL run `rl`'s kept adapter merged into a fresh copy of its base model at `dest`; its step."""
    best = read_best(rl)
    if best is None:
        sys.exit(f"error: {rl}: no kept step ({BEST_DIR}/ and best.json)")
    model = ModelConfig.model_validate(json.loads((rl / "rl_config.json").read_text(encoding="utf-8"))["model"])
    merge_saved_adapter(model, rl / BEST_DIR, dest, load_tokenizer(model))
    return int(best["step"])


def main(seed: Path) -> None:
    rl = seed / "rl"
    step = merge_kept(rl, rl / "final")
    for stage in ("eval_rl", "eval", "report", "results"):
        shutil.rmtree(seed / stage, ignore_errors=True)
    print(f"{rl / 'final'}: step {step} merged from {BEST_DIR}/; eval_rl, eval, report and results dropped")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
