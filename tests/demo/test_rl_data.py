"""Which data the experiment's RL stage trains on and probes, given the SFT stage's outputs."""

from pathlib import Path

from cm2.demo.training import rl_data


def test_rl_trains_without_the_validation_slice_and_probes_it() -> None:
    sft = {"final": "sft/selected", "train_data": "sft/sft_train.jsonl", "validation_data": "sft/validation.jsonl"}
    assert rl_data(sft, Path("filter/train.jsonl")) == (Path("sft/sft_train.jsonl"), "sft/validation.jsonl")
    assert rl_data({"final": "sft/final"}, Path("filter/train.jsonl")) == (Path("filter/train.jsonl"), None)
