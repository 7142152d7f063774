"""A GRPO step on CPU logs where its rollout time went (tiny random model, real BFCL backends, the judge's
checks decided in code): decoder prefill and decode, tools, judge, templates, and the decoder's batch counts;
and TRL's own share of the batch beside the rollout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rl_builders import tiny_rl_config

pytest.importorskip("bfcl_eval")

from cm2.benchmarks.bfcl.dialogue import entry_to_dialogue
from cm2.benchmarks.bfcl.environment import load_entry, load_ground_truth
from cm2.train.rl_run import run_rl_from_config

SECONDS = ("prefill_s", "decode_s", "decode_host_s", "model_idle_s", "env_setup_s", "tools_s", "judge_s")
SECONDS += ("template_s", "score_s", "other_s")
COUNTS = ("batches", "mean_rows", "dynamic_batches", "windowed_batches", "iterations", "tokens")


def test_a_grpo_step_logs_its_rollout_time_breakdown(tmp_path: Path, tiny_chatml_model: Path) -> None:
    data = tmp_path / "bfcl.jsonl"
    ids = ["multi_turn_base_0", "multi_turn_base_1"]
    dialogues = [entry_to_dialogue(load_entry(i), load_ground_truth(i), tool_docs="compact") for i in ids]
    data.write_text("".join(json.dumps(d.dump()) + "\n" for d in dialogues), encoding="utf-8")
    config = tiny_rl_config(
        tmp_path,
        tiny_chatml_model,
        data=str(data),
        tools="bfcl",
        tasks="turn",
        dialogues_per_step=2,
        group_size=2,
        probe={"every_steps": 0},
        episode={"sampling": {"max_new_tokens": 12}, "limits": {"max_steps_per_turn": 2, "max_context_tokens": 8192}},
    )
    run_rl_from_config(config)
    steps = [e for e in json.loads((tmp_path / "out" / "train_log.json").read_text()) if "loss" in e]
    assert len(steps) == 1
    entry = steps[0]
    for name in [f"cm2/time/{n}" for n in SECONDS] + [f"cm2/decoder/{n}" for n in COUNTS]:
        assert name in entry and entry[name] >= 0, (name, entry)
    rollout = entry["cm2/rollout_seconds"]
    assert 0 < entry["cm2/time/prefill_s"] + entry["cm2/time/decode_s"] <= rollout
    assert entry["cm2/time/decode_host_s"] <= entry["cm2/time/decode_s"]
    assert entry["cm2/decoder/batches"] >= 1 and entry["cm2/decoder/mean_rows"] >= 1
    assert entry["cm2/decoder/tokens"] >= entry["cm2/decoder/iterations"] > 0
    # every episode built its BFCL environment and rendered its prompt; the judge's checks ran
    assert entry["cm2/time/env_setup_s"] > 0 and entry["cm2/time/template_s"] > 0 and entry["cm2/time/judge_s"] > 0
    assert entry["cm2/decoder/dynamic_batches"] == entry["cm2/decoder/windowed_batches"] == 0  # CPU: dynamic cache
    # TRL's share of the batch (the reference model's log-probs) beside the rollout, both inside the step
    assert entry["cm2/time/trl_batch_s"] > 0 and rollout + entry["cm2/time/trl_batch_s"] < entry["step_time"]
    print({k: round(v, 4) for k, v in entry.items() if k.startswith(("cm2/time", "cm2/decoder", "cm2/rollout_s"))})
