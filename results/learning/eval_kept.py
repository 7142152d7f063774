"""Run 18: the held-out evaluation of a LoRA RL run's kept step when the run's state predates RL's stage record
(run 11's seed 0 paused at step 79, its kept step, before the record existed): the saved adapter merged into a
fresh copy of the SFT model (`remerge_kept.merge_kept`), then evaluated as the experiment's `eval_rl` stage would,
into FOLDER.

    python results/learning/eval_kept.py ~/exp/seed0 ~/exp/seed0/eval_rl_kept
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from remerge_kept import merge_kept

from cm2.demo.evaluate import evaluate_model
from cm2.demo.experiment import build_config
from cm2.demo.experiment_config import ExperimentConfig


def main(seed: Path, folder: Path) -> None:
    settings = ExperimentConfig.model_validate(
        yaml.safe_load((seed.parent / "logs" / f"{seed.name}.yaml").read_text(encoding="utf-8"))
    )
    config = build_config(settings)
    merged = seed / "rl" / "kept"
    step = merge_kept(seed / "rl", merged)
    folder.mkdir(parents=True, exist_ok=True)
    scores = evaluate_model("rl", str(merged), seed / "filter" / "heldout.jsonl", config.eval, folder, config.llm)
    (folder / "scores.json").write_text(json.dumps({"step": step, **scores.model_dump()}, indent=1))
    print(f"{folder}: step {step} evaluated")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
