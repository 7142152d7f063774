"""The demo split: fixed by entry id, disjoint, 80/20 per category."""

import pytest

from cm2.benchmarks.bfcl.split import entry_index, in_split, split_of


def test_split_by_last_digit_is_fixed_and_disjoint() -> None:
    ids = [f"multi_turn_base_{i}" for i in range(200)]
    train = [i for i in ids if in_split(i, "train")]
    heldout = [i for i in ids if in_split(i, "heldout")]
    assert len(train) == 160 and len(heldout) == 40
    assert not set(train) & set(heldout) and set(train) | set(heldout) == set(ids)
    assert split_of("multi_turn_base_18") == "heldout" and split_of("multi_turn_long_context_107") == "train"
    assert [split_of(i) for i in ids] == [split_of(i) for i in reversed(ids)][::-1]
    assert all(in_split(i, "all") for i in ids)


def test_ids_of_another_shape_are_refused() -> None:
    assert entry_index("multi_turn_miss_param_42") == 42
    for bad in ("multi_turn_base", "42", "base_x"):
        with pytest.raises(ValueError, match="not a BFCL entry id"):
            split_of(bad)
