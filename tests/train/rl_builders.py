"""The CPU RL config of the GRPO tests: a tiny model on copies of the kit's two-turn dialogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cm2.testing import two_turn_dialogue
from cm2.train.rl_config import RLRunConfig


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def tiny_rl_config(tmp_path: Path, model: Path, dialogues: int = 1, **settings: Any) -> RLRunConfig:
    """An RL config on CPU for `model`, `dialogues` copies of `two_turn_dialogue` written under `tmp_path`;
    `settings` are merged over the defaults (nested dicts key by key)."""
    data = tmp_path / "rl.jsonl"
    rows = [two_turn_dialogue(f"d{i}" if dialogues > 1 else "d1") for i in range(dialogues)]
    data.write_text("".join(json.dumps(d.dump()) + "\n" for d in rows))
    defaults = {
        "model": {"path": str(model)},
        "data": str(data),
        "output_dir": str(tmp_path / "out"),
        "group_size": 4,
        "max_steps": 1,
        "use_cpu": True,
        "report_to": [],
        "save_steps": 100,
        "episode": {
            "sampling": {"max_new_tokens": 6},
            "limits": {"max_steps_per_turn": 2, "max_context_tokens": 512},
        },
    }
    return RLRunConfig.model_validate(_merge(defaults, settings))
