"""Run 18: the held-out evaluation of a LoRA RL run's kept step when the run's state predates RL's stage record
(run 11's seed 0 paused at step 79, its kept step, before the record existed): the saved adapter merged into a
fresh copy of the SFT model, then evaluated as the experiment's `eval_rl` stage would, into FOLDER.

    python results/learning/eval_kept.py ~/exp/seed0 ~/exp/seed0/eval_rl_kept
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from cm2.demo.evaluate import evaluate_model
from cm2.demo.experiment import build_config
from cm2.demo.experiment_config import ExperimentConfig
from cm2.train.best import BEST_DIR, merge_saved_adapter, read_best
from cm2.train.models import ModelConfig, load_tokenizer


def main(seed: Path, folder: Path) -> None:
    rl = seed / "rl"
    best = read_best(rl)
    if best is None:
        sys.exit(f"error: {rl}: no kept step ({BEST_DIR}/ and best.json)")
    settings = ExperimentConfig.model_validate(
        yaml.safe_load((seed.parent / "logs" / f"{seed.name}.yaml").read_text(encoding="utf-8"))
    )
    config = build_config(settings)
    model = ModelConfig.model_validate(json.loads((rl / "rl_config.json").read_text(encoding="utf-8"))["model"])
    merged = rl / "kept"
    if not (merged / "config.json").is_file():
        merge_saved_adapter(model, rl / BEST_DIR, merged, load_tokenizer(model))
    folder.mkdir(parents=True, exist_ok=True)
    scores = evaluate_model("rl", str(merged), seed / "filter" / "heldout.jsonl", config.eval, folder, config.llm)
    (folder / "scores.json").write_text(json.dumps({"step": best["step"], **scores.model_dump()}, indent=1))
    print(f"{folder}: step {best['step']} evaluated")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
