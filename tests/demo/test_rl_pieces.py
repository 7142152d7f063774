"""The pipeline's RL stage carried on in pieces (tiny demo: tiny random model, real BFCL backends, TRL's trainer):
a piece that stops on its time budget before max_steps leaves the stage unfinished with its LoRA checkpoint, and
the next run, even with another budget, resumes it instead of starting over or skipping it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

pytest.importorskip("bfcl_eval")

import cm2.train.grpo as grpo
from cm2.demo.config import DemoConfig
from cm2.demo.pipeline import run_demo
from cm2.demo.stages import StageUnfinished, read_record
from cm2.train.resume import time_budget


def _config(minutes: float) -> DemoConfig:
    values = DemoConfig.tiny().model_dump(mode="json")
    values["rl"] |= {"max_steps": 2, "max_minutes": minutes, "lora": {"r": 4, "alpha": 8, "dropout": 0.0}}
    values["rl"]["probe"]["every_steps"] = 0
    values["eval"]["models"] = ["rl"]
    return DemoConfig.model_validate(values)


@pytest.mark.slow
def test_an_rl_stage_stopped_on_its_budget_is_carried_on_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[float] = []

    def clock() -> float:  # one minute later each time the budget reads it: at the start and after each step
        reads.append(60.0 * len(reads))
        return reads[-1]

    monkeypatch.setattr(grpo, "time_budget", lambda minutes: time_budget(minutes, clock=clock))
    out, console = tmp_path / "run", Console(quiet=True)
    with pytest.raises(StageUnfinished, match="step 1 of 2"):
        run_demo(_config(minutes=1.0), out, console)
    assert read_record(out / "sft") is not None and read_record(out / "rl") is None
    assert [p.name for p in (out / "rl").glob("checkpoint-*")] == ["checkpoint-1"]
    assert not (out / "eval_rl").exists()  # the stages after an unfinished one wait
    first_piece = (out / "rl" / "trajectories.jsonl").read_text().splitlines()

    result = run_demo(_config(minutes=30.0), out, console)  # another budget: the same run, carried on
    skipped = {r.name for r in result.stages if r.skipped}
    assert {"model", "data", "label", "filter", "sft"} <= skipped and "rl" not in skipped
    record = read_record(out / "rl")
    assert record is not None and record.outputs["steps"] == 2
    pieces = record.outputs["pieces"]
    assert [(p["from_step"], p["to_step"]) for p in pieces] == [(0, 1), (1, 2)]
    assert record.outputs["seconds_all_pieces"] == round(sum(p["seconds"] for p in pieces), 1)
    log = [e["step"] for e in json.loads((out / "rl" / "train_log.json").read_text()) if "loss" in e]
    assert log == [1, 2]
    lines = (out / "rl" / "trajectories.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["metadata"]["train_step"] for line in lines) == [1, 1, 2, 2]
    assert lines[: len(first_piece)] == first_piece
    assert len(reads) == 4  # each piece read the clock at its start and after its one step: step 1 ran once
    assert not [*(out / "rl").glob("checkpoint-*")]  # finished: the final model only, adapter merged in
    final = out / "rl" / "final"
    assert (final / "config.json").is_file() and not (final / "adapter_config.json").exists()
    assert read_record(out / "eval_rl") is not None


@pytest.mark.slow
def test_with_rl_budget_end_a_run_stopped_on_its_budget_ends_there_and_is_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[float] = []

    def clock() -> float:
        reads.append(60.0 * len(reads))
        return reads[-1]

    monkeypatch.setattr(grpo, "time_budget", lambda minutes: time_budget(minutes, clock=clock))
    out = tmp_path / "run"
    config = _config(minutes=1.0).model_copy(update={"rl_budget": "end"})
    run_demo(config, out, Console(quiet=True))
    record = read_record(out / "rl")
    assert record is not None
    assert (record.outputs["steps"], record.outputs["max_steps"], record.outputs["stopped_on_budget"]) == (1, 2, True)
    assert not [*(out / "rl").glob("checkpoint-*")]
    assert read_record(out / "eval_rl") is not None  # the model of step 1 was evaluated


@pytest.mark.slow
@pytest.mark.parametrize("rl_dialogues", [0, 1])
def test_with_a_validation_slice_rl_trains_without_it_probes_it_whole_and_keeps_its_best_step(
    tmp_path: Path, rl_dialogues: int
) -> None:
    """With `rl_dialogues`, RL trains on dialogues held out of SFT too (the paper's separate RL data)."""
    values = DemoConfig.tiny().model_dump(mode="json")
    values["data"]["train_limit"] = 3 + rl_dialogues
    values["sft_selection"] = {"val_dialogues": 1, "checkpoints": 1, "rl_dialogues": rl_dialogues}
    values["rl"] |= {"max_steps": 2, "tasks": "turn"}
    values["rl"]["probe"] |= {"every_steps": 1, "keep_best": True}
    values["eval"] |= {"models": ["rl", "rl_last"], "max_steps_per_turn": 20}  # the longest validation turn
    out = tmp_path / "run"
    run_demo(DemoConfig.model_validate(values), out, Console(quiet=True))
    sft, rl = read_record(out / "sft"), read_record(out / "rl")
    assert sft is not None and rl is not None

    def uuids(key: str) -> list[str]:
        return [json.loads(line)["uuid"] for line in Path(sft.outputs[key]).read_text().splitlines()]

    validation, sft_trained = uuids("validation_data"), set(uuids("train_data"))
    assert len(validation) == 1 and len(sft_trained) == 2 and not sft_trained & set(validation)
    trained = set(uuids("rl_data")) if rl_dialogues else sft_trained
    assert len(trained) == 2 - rl_dialogues and not trained & set(validation)
    assert not rl_dialogues or not trained & sft_trained
    config = json.loads((out / "rl" / "rl_config.json").read_text())
    assert config["data"] == sft.outputs["rl_data" if rl_dialogues else "train_data"]
    assert config["probe"]["data"] == sft.outputs["validation_data"]
    probes = [json.loads(line) for line in (out / "rl" / "probe.jsonl").read_text().splitlines()]
    assert [p["step"] for p in probes] == [0, 1, 2]
    assert all(list(p["rewards"]) == validation for p in probes)  # the whole dialogue, not its per-turn tasks
    rollouts = [
        json.loads(line)["dialogue_uuid"] for line in (out / "rl" / "trajectories.jsonl").read_text().splitlines()
    ]
    assert rollouts and all(uuid.split("@turn")[0] in trained for uuid in rollouts)
    # kept on BFCL's own numbers for the validation slice (ties: the earlier step), not on the probe reward
    assert all(set(p["validation"]) == {"metric", "state_match", "exact_calls", "score"} for p in probes)
    best = max(probes, key=lambda p: (p["validation"]["score"], -p["step"]))["step"]
    assert (rl.outputs["kept_step"], rl.outputs["kept_on"]) == (best, "bfcl")
    assert rl.outputs["probe_data"] == sft.outputs["validation_data"]
    # one SFT checkpoint: kept unevaluated, since RL's step-0 probe scores it on the same slice
    assert sft.outputs["validation"] == {} and Path(sft.outputs["final"]).name == "selected"
    # both the kept step and the last one are evaluated on the held-out split (the same folder when they agree)
    last = rl.outputs["last"]
    assert last == (rl.outputs["final"] if best == 2 else str(out / "rl" / "last")) and Path(last).is_dir()
    evaluated = [read_record(out / name) for name in ("eval_rl", "eval_rl_last")]
    assert [r.outputs["scores"]["model"] for r in evaluated if r is not None] == ["rl", "rl_last"]
