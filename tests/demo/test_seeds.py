"""Several seeds brought together: mean and t-interval, gain over SFT per seed (with a paired interval over
dialogues), and the rank correlation of checklist score with state match; and the SFT validation slice."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from cm2.demo.seeds import mean_interval, paired_gains, spearman, summarize, write_seed_summary
from cm2.demo.sft_selection import save_every
from cm2.demo.stages import MARKER, StageRecord


def scores(model: str, state: float, exact: float, checklist: float) -> dict[str, object]:
    return {
        "model": model,
        "state_match_accuracy": state,
        "exact_call_accuracy": exact,
        "checklist_score": checklist,
        "bfcl_accuracy": 0.0,
    }


def write_eval(out: Path, seed: int, rows: list[dict[str, object]]) -> None:
    folder = out / f"seed{seed}" / "eval"
    folder.mkdir(parents=True)
    record = StageRecord(name="eval", fingerprint="x", seconds=1.0, finished_at="now", outputs={"scores": rows})
    (folder / MARKER).write_text(record.model_dump_json(), encoding="utf-8")


def test_mean_interval_is_a_t_interval_and_none_for_one_seed() -> None:
    one = mean_interval([0.4])
    assert one["mean"] == 0.4 and one["low"] is None
    three = mean_interval([0.1, 0.2, 0.3])
    assert three["mean"] == pytest.approx(0.2) and three["sd"] == pytest.approx(0.1)
    assert three["high"] == pytest.approx(0.2 + 4.303 * 0.1 / 3**0.5)


def test_spearman_handles_ties_and_constant_sides() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833)
    assert spearman([1, 2, 3], [5, 5, 5]) is None


def test_summary_over_seeds(tmp_path: Path) -> None:
    write_eval(tmp_path, 0, [scores("base", 0, 0, 0), scores("sft", 0.3, 0.1, 0.2), scores("rl", 0.5, 0.2, 0.4)])
    write_eval(tmp_path, 1, [scores("sft", 0.2, 0.2, 0.1), scores("rl", 0.2, 0.3, 0.3)])
    summary = summarize(tmp_path, [0, 1, 2])  # seed 2 never finished: left out, not counted as zero
    assert summary["seeds"] == [0, 1]
    assert summary["mean_over_seeds"]["base"]["seeds"] == 1
    gain = summary["gain_over_sft"]["rl - sft"]
    assert gain["state_match_accuracy"]["mean"] == pytest.approx(0.1)
    assert gain["exact_call_accuracy"]["mean"] == pytest.approx(0.1)
    assert summary["spearman_checklist_vs_state_match"]["checkpoints"] == 5
    folder = write_seed_summary(tmp_path, [0, 1])
    assert json.loads((folder / "seeds.json").read_text())["seeds"] == [0, 1]
    assert "rl - sft" in (folder / "seeds.md").read_text()


def test_per_dialogue_correlation_reads_every_trained_evaluation(tmp_path: Path) -> None:
    def dialogue(uuid: str, checklist: float, state: int, exact: int) -> str:
        row = {"uuid": uuid, "turns": 2, "state_turns": state, "exact_turns": exact}
        return json.dumps({**row, "checklist_earned": checklist, "checklist_earnable": 1.0})

    for model, lines in {
        "base": [dialogue("a", 0.9, 0, 2), dialogue("b", 0.0, 2, 0)],  # left out: would flip both signs
        "sft": [dialogue("a", 0.2, 0, 1), dialogue("b", 0.5, 1, 0)],
        "rl": [dialogue("a", 0.9, 2, 1), dialogue("b", 0.1, 0, 2)],
    }.items():
        folder = tmp_path / "seed0" / f"eval_{model}"
        folder.mkdir(parents=True)
        (folder / "dialogue_scores.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_eval(tmp_path, 0, [scores("sft", 0.3, 0.1, 0.2), scores("rl", 0.5, 0.2, 0.4)])
    per = summarize(tmp_path, [0])["spearman_per_dialogue"]
    assert per["pairs"] == 4
    assert per["state_match"] == pytest.approx(0.9486833)  # checklist 0.1 < 0.2 < 0.5 < 0.9, state 0 = 0 < 1 < 2 (tie)
    assert per["exact_calls"] == pytest.approx(-0.6324555)
    assert "Per held-out dialogue (4 trained" in (write_seed_summary(tmp_path, [0]) / "seeds.md").read_text()
    # RL - SFT on the same dialogues: state (2 + 0) / 4 - (0 + 1) / 4, exact 3/4 - 1/4, checklist mean 0.5 - 0.35
    paired = summarize(tmp_path, [0])["paired_over_dialogues"]
    assert list(paired) == ["seed 0: rl - sft"]
    gain = paired["seed 0: rl - sft"]
    assert gain["state_match_accuracy"]["value"] == pytest.approx(0.25)
    assert gain["exact_call_accuracy"]["value"] == pytest.approx(0.5)
    assert gain["checklist_score"]["value"] == pytest.approx(0.15)
    assert gain["state_match_accuracy"]["method"] == "paired_bootstrap" and gain["checklist_score"]["n"] == 2
    assert "| seed 0: rl - sft | +25.0 [" in (tmp_path / "results" / "seeds.md").read_text()


def test_the_probe_correlation_ranks_every_probed_rl_step_of_every_level(tmp_path: Path) -> None:
    def probe(step: int, reward: float, state: float, exact: float | None = None) -> str:
        line: dict[str, object] = {"step": step, "probe_reward": reward}
        if exact is not None:
            line["validation"] = {"metric": "bfcl", "state_match": state, "exact_calls": exact, "score": 0.0}
        return json.dumps(line)

    for level, lines in {
        "rl": [probe(0, 0.1, 0.1, 0.2), probe(5, 0.2, 0.3, 0.2), probe(10, 0.9, 0.9)],  # step 10: no validation
        "rl_turn": [probe(0, 0.3, 0.2, 0.2), probe(5, 0.4, 0.4, 0.2)],
    }.items():
        (tmp_path / "seed0" / level).mkdir(parents=True)
        (tmp_path / "seed0" / level / "probe.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_eval(tmp_path, 0, [scores("sft", 0.3, 0.1, 0.2), scores("rl", 0.5, 0.2, 0.4)])
    found = summarize(tmp_path, [0])["spearman_probe_steps"]
    # rewards 0.1 < 0.2 < 0.3 < 0.4 against states 0.1 < 0.3 > 0.2 < 0.4: rho = 1 - 6 * 2 / (4 * 15)
    assert found == {"steps": 4, "state_match": pytest.approx(0.8), "exact_calls": None}
    text = (write_seed_summary(tmp_path, [0]) / "seeds.md").read_text()
    assert "probed steps on the validation slice (4), probe checklist reward vs state match: 0.800" in text


def test_checkpoints_are_evenly_spaced() -> None:
    run = SimpleNamespace(max_steps=-1, per_device_batch_size=4, gradient_accumulation_steps=4, epochs=3)
    assert save_every(run, 143, 3) == 9  # 9 optimizer steps an epoch, 27 in all
    assert save_every(SimpleNamespace(max_steps=2), 10, 3) == 1


def test_the_paired_checklist_gain_leaves_out_dialogues_whose_checklist_offers_nothing(tmp_path: Path) -> None:
    def row(uuid: str, earned: float, earnable: float) -> str:
        base = {"uuid": uuid, "turns": 1, "state_turns": 0, "exact_turns": 0}
        return json.dumps({**base, "checklist_earned": earned, "checklist_earnable": earnable})

    for model, lines in {
        "sft": [row("a", 0.2, 1.0), row("b", 0.0, 0.0)],
        "rl": [row("a", 0.6, 1.0), row("b", 0, 0)],
    }.items():
        folder = tmp_path / "seed0" / f"eval_{model}"
        folder.mkdir(parents=True)
        (folder / "dialogue_scores.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    gain = paired_gains(tmp_path, [0])["seed 0: rl - sft"]["checklist_score"]
    assert gain["value"] == pytest.approx(0.4)  # as the held-out checklist score counts: dialogue b not at all
