"""Early stopping on the probe: the policy of the best probed step, kept beside the run and made its final model.

With `probe.keep_best`, every probe that beats the best so far (on its validation metric's score when
`probe.metric` is set, else on its probe reward; ties keep the earlier step, the one nearer the starting
policy) replaces `<output_dir>/best`: the full weights, or the LoRA adapter alone (a few MiB, so it
travels with a run carried on in pieces). `best.json` names the step and its score. Both are replaced
atomically and read back on resume, so a run carried on keeps comparing against the same best. Meant for a
validation probe (`probe.data`), never for the held-out split.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from cm2.data.atomic import atomic_file, swap_in
from cm2.train.models import ModelConfig

BEST_DIR = "best"
BEST_FILE = "best.json"
LAST_DIR = "last"
"""Where the last policy goes when an earlier probed step became the final model."""


def read_best(out: Path) -> dict[str, Any] | None:
    """The kept step, its score and what the score is (`step`, `score`, `on`), or None when nothing is kept."""
    path = out / BEST_FILE
    if not path.is_file() or not (out / BEST_DIR).is_dir():
        return None
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return record


def forget_best_after(out: Path, step: int) -> dict[str, Any] | None:
    """Remove the kept policy when it is of a step after `step`, the checkpoint a run resumes from: a killed
    piece kept it, and the resumed piece trains those steps again, so it is no policy of the run. Returns the
    forgotten record (None when nothing went)."""
    best = read_best(out)
    if best is None or best["step"] <= step:
        return None
    (out / BEST_FILE).unlink()
    shutil.rmtree(out / BEST_DIR, ignore_errors=True)
    return best


def keep_if_best(trainer: Any, out: Path, step: int, score: float, *, on: str, lora: bool) -> bool:
    """Snapshot the trainer's policy when `score` (of what `on` names) beats the kept one's; returns whether it
    did. A kept policy scored on something else (a run resumed with another criterion) is replaced."""
    best = read_best(out)
    if best is not None and best.get("on") == on and score <= best["score"]:
        return False
    staging = out / f".{BEST_DIR}.tmp"
    main = trainer.is_world_process_zero()
    if main:
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    if not lora:
        trainer.save_model(str(staging))  # every rank takes part (sharded weights are gathered)
    elif main:
        trainer.accelerator.unwrap_model(trainer.model).save_pretrained(str(staging))  # the adapter alone
    if main:
        swap_in(staging, out / BEST_DIR)
        with atomic_file(out / BEST_FILE) as tmp:
            tmp.write_text(json.dumps({"step": step, "score": score, "on": on}) + "\n", encoding="utf-8")
    trainer.accelerator.wait_for_everyone()
    return True


def merge_saved_adapter(base: ModelConfig, adapter: Path, dest: Path, tokenizer: Any) -> Path:
    """The LoRA adapter saved in `adapter`, merged into a fresh copy of its base model (`base`, loaded as
    training loaded it), written with `tokenizer` as a plain checkpoint folder at `dest`, atomically."""
    from peft import PeftModel

    from cm2.train.models import load_policy

    model, _ = load_policy(base)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    staging = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    merged.save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    swap_in(staging, dest)
    return dest


def copy_best(out: Path, final: Path, tokenizer: Any) -> Path:
    """The kept full-weight policy as the run's final model folder, with the tokenizer."""
    staging = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(out / BEST_DIR, staging)
    tokenizer.save_pretrained(str(staging))
    swap_in(staging, final)
    return final
