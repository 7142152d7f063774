"""Splitting the train dialogues (SFT, RL alone, validation) and choosing the SFT checkpoint: ranked by the mean
of state match and exact calls on the validation slice, with run 5's validation numbers standing in for the
greedy evaluations (which `test_rl_pieces` runs for real)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import cm2.demo.evaluate as evaluate
from cm2.data.split import split_key
from cm2.demo.config import DemoConfig
from cm2.demo.evaluate import ModelScores
from cm2.demo.sft_selection import select_checkpoint, split_train
from cm2.demo.training import rl_data
from cm2.testing.annotation import order_dialogue


def _scripted(by_step: dict[int, tuple[float, float]]) -> Any:
    def evaluate_model(name: str, checkpoint: str, *args: Any) -> ModelScores:
        state, exact = by_step[int(checkpoint.rsplit("-", 1)[1])]
        return ModelScores(
            model=name, checkpoint=checkpoint, dialogues=16, exact_call_accuracy=exact, state_match_accuracy=state,
            turns=56, bfcl_accuracy=0.0, checklist_score=0.0,
        )  # fmt: skip

    return evaluate_model


def _checkpoints(folder: Path, steps: list[int]) -> None:
    for step in steps:
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        (folder / f"checkpoint-{step}" / "optimizer.pt").write_bytes(b"")


@pytest.mark.parametrize(
    ("by_step", "chosen"),
    [
        # run 5: checkpoint 18 led by one turn of exact calls, 27 by four turns of state match
        ({9: (9 / 56, 3 / 56), 18: (11 / 56, 10 / 56), 27: (15 / 56, 9 / 56)}, "checkpoint-27"),
        ({9: (0.1, 0.1), 18: (0.3, 0.1), 27: (0.1, 0.3)}, "checkpoint-27"),  # a tie goes to the later one
        ({9: (0.1, 0.1), 18: (0.3, 0.2), 27: (0.1, 0.3)}, "checkpoint-18"),
    ],
)
def test_the_checkpoint_best_on_state_match_and_exact_calls_together_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by_step: dict[int, tuple[float, float]], chosen: str
) -> None:
    monkeypatch.setattr(evaluate, "evaluate_model", _scripted(by_step))
    _checkpoints(tmp_path, [9, 18, 27])
    result = select_checkpoint(DemoConfig.tiny(), tmp_path, tmp_path / "validation.jsonl")
    state, exact = by_step[int(chosen.rsplit("-", 1)[1])]
    assert (result["selected"], result["selected_score"]) == (chosen, pytest.approx((state + exact) / 2))
    assert not (tmp_path / chosen).exists() and not (tmp_path / "selected" / "optimizer.pt").exists()


def test_a_lone_checkpoint_is_kept_without_evaluating_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> ModelScores:
        raise AssertionError("one checkpoint: nothing to choose, so nothing to evaluate")

    monkeypatch.setattr(evaluate, "evaluate_model", refuse)
    _checkpoints(tmp_path, [48])
    result = select_checkpoint(DemoConfig.tiny(), tmp_path, tmp_path / "validation.jsonl")
    assert result == {"selected": "checkpoint-48", "final": str(tmp_path / "selected"), "validation": {}}
    assert (tmp_path / "selected").is_dir() and not (tmp_path / "selected" / "optimizer.pt").exists()


def _uuids(path: Path | None) -> list[str]:
    assert path is not None
    return [json.loads(line)["uuid"] for line in path.read_text().splitlines()]


def _train_file(tmp_path: Path, count: int) -> Path:
    data = tmp_path / "train.jsonl"
    dialogues = [order_dialogue(i).model_copy(update={"uuid": f"d{i}"}) for i in range(count)]
    data.write_text("".join(json.dumps(d.dump()) + "\n" for d in dialogues))
    return data


def test_the_validation_slice_is_held_out_of_sft(tmp_path: Path) -> None:
    train, val, rl = split_train(_train_file(tmp_path, 5), tmp_path, 2)
    assert len(_uuids(val)) == 2 and sorted(_uuids(train) + _uuids(val)) == [f"d{i}" for i in range(5)]
    assert rl is None and not (tmp_path / "rl_train.jsonl").exists()
    with pytest.raises(ValueError, match="too few"):
        split_train(tmp_path / "train.jsonl", tmp_path, 5)


def test_rl_dialogues_are_held_out_of_sft_and_of_the_validation_slice(tmp_path: Path) -> None:
    train, val, rl = split_train(_train_file(tmp_path, 7), tmp_path, 2, rl=3)
    parts = [_uuids(val), _uuids(rl), _uuids(train)]
    assert [len(p) for p in parts] == [2, 3, 2]
    assert sorted(uuid for part in parts for uuid in part) == [f"d{i}" for i in range(7)]
    assert all(p == sorted(p) for p in parts)  # each file by uuid
    with pytest.raises(ValueError, match="2 for validation and 5 for RL"):
        split_train(tmp_path / "train.jsonl", tmp_path, 2, rl=5)
    _, none, only_rl = split_train(tmp_path / "train.jsonl", tmp_path, 0, rl=3)
    assert none is None and len(_uuids(only_rl)) == 3


def test_the_parts_follow_the_hash_not_the_uuids_order_and_span_blocks_of_one_domain(tmp_path: Path) -> None:
    """BFCL's ids come in blocks of one domain; by uuid, a validation slice was one block (runs 5-6)."""
    data = tmp_path / "train.jsonl"
    dialogues = [order_dialogue(0).model_copy(update={"uuid": f"{block}{i}"}) for block in "abcd" for i in range(10)]
    data.write_text("".join(json.dumps(d.dump()) + "\n" for d in reversed(dialogues)))  # input order is irrelevant
    _, val, rl = split_train(data, tmp_path, 8, rl=8)
    by_hash = sorted((d.uuid for d in dialogues), key=lambda uuid: split_key(0, "rl", uuid))
    assert _uuids(val) == sorted(by_hash[:8]) and _uuids(rl) == sorted(by_hash[8:16])
    assert len({uuid[0] for uuid in _uuids(val)}) >= 3


def test_rl_trains_on_its_own_dialogues_when_sft_held_some_out_and_probes_the_validation_slice() -> None:
    data = Path("filter/train.jsonl")
    split = {"train_data": "sft_train.jsonl", "validation_data": "validation.jsonl"}
    assert rl_data(split | {"rl_data": "rl_train.jsonl"}, data) == (Path("rl_train.jsonl"), "validation.jsonl")
    assert rl_data(split, data) == (Path("sft_train.jsonl"), "validation.jsonl")
    assert rl_data({"rl_data": "rl_train.jsonl"}, data) == (Path("rl_train.jsonl"), None)
    assert rl_data({}, data) == (data, None)


def test_with_rl_data_all_rl_trains_on_its_own_and_sfts_dialogues_never_the_validation_slice(tmp_path: Path) -> None:
    train, val, rl = split_train(_train_file(tmp_path, 7), tmp_path, 2, rl=3)
    assert val is not None and rl is not None
    outputs = {"train_data": str(train), "validation_data": str(val), "rl_data": str(rl)}
    folder = tmp_path / "rl"
    folder.mkdir()
    joined, probe = rl_data(outputs, tmp_path / "train.jsonl", "all", folder)
    assert joined.parent == folder and probe == str(val)
    assert sorted(_uuids(joined)) == sorted(_uuids(rl) + _uuids(train)) and not set(_uuids(joined)) & set(_uuids(val))
    assert rl_data(outputs, tmp_path / "train.jsonl", "rl_split", folder) == (rl, str(val))


def test_rl_data_is_an_rl_setting_so_a_finished_sft_stage_stays_done() -> None:
    from cm2.demo.pipeline import build_stages

    def settings(config: DemoConfig) -> dict[str, Any]:
        return {stage.name: stage.settings for stage in build_stages(config, Path("out"))}

    split, everything = settings(DemoConfig()), settings(DemoConfig(rl_data="all"))
    assert split["sft"] == everything["sft"] and split["rl"] != everything["rl"]
    assert "rl_data" not in split["rl"]  # RL records from before the setting keep their fingerprint
