"""The probe set during GRPO, through TRL's real trainer with a tiny random model on CPU: evaluated greedily at
step 0, every N steps and at the end, written to probe.jsonl and the trainer's log; flat when nothing is learnt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rl_builders import tiny_rl_config

from cm2.data.split import split_key
from cm2.llm.testing.tiny_model import build_tiny_model
from cm2.report.metrics_log import read_train_log
from cm2.schema import Dialogue
from cm2.testing import RuleJudge, even_length
from cm2.tools import HybridToolSimulator
from cm2.train.best import read_best
from cm2.train.grpo import run_rl
from cm2.train.probe import PROBE_FILE, probe_episode, probe_set, read_probe
from cm2.train.rl_config import RLRunConfig


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def _config(tmp_path: Path, model: Path, learning_rate: float, every: int) -> RLRunConfig:
    return tiny_rl_config(
        tmp_path,
        model,
        dialogues=3,
        group_size=2,
        max_steps=3,
        learning_rate=learning_rate,
        reward={"level": "trajectory", "scale": "one"},
        episode={"sampling": {"temperature": 1.0}},
        probe={"every_steps": every, "dialogues": 2},
    )


def _first_by_hash(uuids: list[str], size: int = 2) -> list[str]:
    return sorted(sorted(uuids, key=lambda uuid: split_key(0, "rl", uuid))[:size])


def test_the_probe_runs_at_the_start_every_n_steps_and_at_the_end(tmp_path: Path, tiny_model: Path) -> None:
    config = _config(tmp_path, tiny_model, learning_rate=0.0, every=2)
    run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    records = read_probe(tmp_path / "out" / PROBE_FILE)
    assert [r["step"] for r in records] == [0, 2, 3]
    assert all(sorted(r["rewards"]) == _first_by_hash(["d0", "d1", "d2"]) and r["dialogues"] == 2 for r in records)
    # nothing learnt (learning rate 0) and greedy decoding on fixed dialogues: the curve is flat, although the
    # sampled training batches vary
    assert len({json.dumps(r["rewards"], sort_keys=True) for r in records}) == 1
    logged = read_train_log(tmp_path / "out" / "train_log.json")
    assert sorted(step for step, values in logged.items() if "probe_reward" in values) == [0, 2, 3]
    assert logged[2]["probe_reward"] == records[1]["probe_reward"] and "loss" in logged[2]


def test_the_probe_is_off_with_zero_and_its_settings_are_greedy(tmp_path: Path, tiny_model: Path) -> None:
    config = _config(tmp_path, tiny_model, learning_rate=1e-2, every=0)
    config = config.model_copy(update={"max_steps": 1})
    run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    assert not (tmp_path / "out" / PROBE_FILE).exists()
    episode = probe_episode(config.episode)
    assert (episode.sampling.temperature, episode.early_stop, episode.limits) == (0.0, False, config.episode.limits)
    dialogues = {d: Dialogue(uuid=d, messages=[]) for d in reversed([f"{b}{i}" for b in "abcd" for i in range(10)])}
    chosen = [d.uuid for d in probe_set(dialogues, 8)]
    assert chosen == _first_by_hash(list(dialogues), 8)
    assert len({uuid[0] for uuid in chosen}) >= 3  # spread over the blocks, not the first by uuid


def test_a_validation_probe_reads_its_own_file_and_refuses_dialogues_also_trained_on(
    tmp_path: Path, tiny_model: Path
) -> None:
    from cm2.testing import two_turn_dialogue

    config = _config(tmp_path, tiny_model, learning_rate=0.0, every=3)
    held = tmp_path / "validation.jsonl"
    held.write_text("".join(json.dumps(two_turn_dialogue(u).dump()) + "\n" for u in ("v0", "v1", "v2")))
    probed = config.model_copy(update={"tasks": "turn", "probe": config.probe.model_copy(update={"data": str(held)})})
    run_rl(probed, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    records = read_probe(tmp_path / "out" / PROBE_FILE)
    assert [r["step"] for r in records] == [0, 3]
    # whole dialogues, played on the policy's own history, although training plays per-turn tasks
    first = _first_by_hash(["v0", "v1", "v2"])
    assert all(sorted(r["rewards"]) == first and r["steps_per_rollout"] >= 2 for r in records), records
    leaky = tmp_path / "leaky.jsonl"
    leaky.write_text(held.read_text() + json.dumps(two_turn_dialogue("d1").dump()) + "\n")
    with pytest.raises(ValueError, match=r"1 dialogue.*also in data, first d1"):
        run_rl(
            probed.model_copy(update={"probe": probed.probe.model_copy(update={"data": str(leaky)})}),
            make_env=HybridToolSimulator,
            judge=RuleJudge(even_length),
        )


class ScriptedProbe:
    """Probe rewards by step, in place of the greedy episodes (which a tiny random model scores as 0)."""

    def __init__(self, by_step: dict[int, float]) -> None:
        self.by_step = by_step

    def __call__(self, step: int, dialogues: Any, trajectories: Any, reward: Any, seconds: float) -> dict[str, Any]:
        return {"step": step, "probe_reward": self.by_step[step], "probe_turn_reward": 0.0, "rewards": {}}


def _weights(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize("lora", [False, True])
def test_keep_best_makes_the_best_probed_policy_the_final_model(
    tmp_path: Path, tiny_model: Path, lora: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    import cm2.train.probe as probe

    monkeypatch.setattr(probe, "probe_record", ScriptedProbe({0: 0.1, 1: 0.1, 2: 0.5, 3: 0.5}))
    config = _config(tmp_path, tiny_model, learning_rate=5e-2, every=1)
    config = RLRunConfig.model_validate(
        config.model_dump()
        | {
            "probe": config.probe.model_dump() | {"keep_best": True},
            "save_steps": 1,
            "lora": {"r": 4, "alpha": 8, "dropout": 0.0} if lora else None,
        }
    )
    final = run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    out = tmp_path / "out"
    assert read_best(out) == {"step": 2, "score": 0.5, "on": "probe_reward"}  # the tie at step 3 keeps step 2
    assert [r["step"] for r in read_probe(out / PROBE_FILE)] == [0, 1, 2, 3]
    # the final model is step 2's policy, as a plain checkpoint (an adapter merged in)
    assert (final / "config.json").exists() and not (final / "adapter_config.json").exists()
    if lora:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(str(tiny_model))
        step2 = PeftModel.from_pretrained(base, str(out / "checkpoint-2")).merge_and_unload().state_dict()
    else:
        step2 = _weights(out / "checkpoint-2")
    kept = _weights(final)
    assert kept.keys() <= step2.keys() and all(torch.equal(kept[name], step2[name]) for name in kept)
    # the last step's policy is kept beside it, also as a plain checkpoint
    last = _weights(out / "last")
    if lora:
        base = AutoModelForCausalLM.from_pretrained(str(tiny_model))
        step3 = PeftModel.from_pretrained(base, str(out / "checkpoint-3")).merge_and_unload().state_dict()
    else:
        step3 = _weights(out / "checkpoint-3")
    assert not (out / "last" / "adapter_config.json").exists() and (out / "last" / "tokenizer_config.json").exists()
    assert last.keys() <= step3.keys() and all(torch.equal(last[name], step3[name]) for name in last)
    assert any(not torch.equal(last[name], kept[name]) for name in last)


def test_with_a_validation_metric_keep_best_follows_its_score_not_the_probe_reward(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cm2.train.probe as probe
    from cm2.testing import two_turn_dialogue
    from cm2.train.validation import ValidationScore, register_validation_metric

    monkeypatch.setattr(probe, "probe_record", ScriptedProbe({0: 0.1, 1: 0.9, 2: 0.1, 3: 0.1}))
    scores = iter([0.2, 0.1, 0.6, 0.6])
    seen: list[list[str]] = []

    @register_validation_metric("scripted_for_test")
    def scripted(dialogues: list[Dialogue], trajectories: list[Any]) -> ValidationScore:
        seen.append(sorted(t.dialogue_uuid for t in trajectories))
        return ValidationScore({"state_match": 0.5}, next(scores))

    held = tmp_path / "validation.jsonl"
    held.write_text("".join(json.dumps(two_turn_dialogue(u).dump()) + "\n" for u in ("v0", "v1")))
    config = _config(tmp_path, tiny_model, learning_rate=5e-2, every=1)
    probed = {"data": str(held), "metric": "scripted_for_test", "keep_best": True}
    config = RLRunConfig.model_validate(config.model_dump() | {"probe": config.probe.model_dump() | probed})
    run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    out = tmp_path / "out"
    assert read_best(out) == {"step": 2, "score": 0.6, "on": "scripted_for_test"}
    assert seen == [["v0", "v1"]] * 4  # the probe's whole validation dialogues, at steps 0 to 3
    records = read_probe(out / PROBE_FILE)
    assert records[2]["validation"] == {"metric": "scripted_for_test", "state_match": 0.5, "score": 0.6}
    assert read_train_log(out / "train_log.json")[2]["probe_validation_score"] == 0.6


def test_a_validation_metric_needs_validation_dialogues_and_a_registered_name() -> None:
    from pydantic import ValidationError

    from cm2.train.rl_config import ProbeConfig

    with pytest.raises(ValidationError, match=r"set probe\.data"):
        ProbeConfig(metric="bfcl")
    with pytest.raises(ValidationError, match=r"unknown validation metric 'nope'; known: .*bfcl"):
        ProbeConfig(metric="nope", data="v.jsonl")


def test_a_lora_run_resumed_after_its_kept_step_merges_that_step_as_final_and_the_last_beside_it(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the GPU runs go: the best step kept in an earlier piece, the run resumed from a later checkpoint."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    import cm2.train.probe as probe

    monkeypatch.setattr(probe, "probe_record", ScriptedProbe({0: 0.1, 1: 0.5, 2: 0.1, 3: 0.1, 4: 0.1}))
    config = _config(tmp_path, tiny_model, learning_rate=5e-2, every=1)
    values = config.model_dump() | {
        "probe": config.probe.model_dump() | {"keep_best": True},
        "save_steps": 1,
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "resume": True,
    }
    run_rl(
        RLRunConfig.model_validate(values | {"max_steps": 2}),
        make_env=HybridToolSimulator,
        judge=RuleJudge(even_length),
    )
    final = run_rl(
        RLRunConfig.model_validate(values | {"max_steps": 4}),
        make_env=HybridToolSimulator,
        judge=RuleJudge(even_length),
    )
    out = tmp_path / "out"
    assert read_best(out) == {"step": 1, "score": 0.5, "on": "probe_reward"}

    def merged(step: int) -> dict[str, Any]:
        base = AutoModelForCausalLM.from_pretrained(str(tiny_model))
        return dict(PeftModel.from_pretrained(base, str(out / f"checkpoint-{step}")).merge_and_unload().state_dict())

    kept, last, step1, step4 = _weights(final), _weights(out / "last"), merged(1), merged(4)
    assert all(torch.equal(kept[name], step1[name]) for name in kept)
    assert all(torch.equal(last[name], step4[name]) for name in last)
    assert any(not torch.equal(last[name], kept[name]) for name in last)
    assert not (out / ".last_adapter").exists() and (final / "tokenizer_config.json").exists()
