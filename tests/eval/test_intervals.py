"""Confidence intervals of held-out scores: Wilson's for yes/no per dialogue, a bootstrap over dialogues."""

from __future__ import annotations

import numpy as np
import pytest

from cm2.eval.intervals import bootstrap_interval, paired_difference_interval, wilson_interval


def test_wilson_matches_the_textbook_values_and_is_not_empty_at_the_edges() -> None:
    half = wilson_interval(5, 10)
    assert (half.value, round(half.low, 4), round(half.high, 4)) == (0.5, 0.2366, 0.7634)
    none = wilson_interval(0, 40)
    assert none.value == 0.0 and none.low == 0.0 and round(none.high, 4) == 0.0876
    every = wilson_interval(40, 40)
    assert every.value == 1.0 and every.high == 1.0 and round(every.low, 4) == 0.9124
    assert wilson_interval(0, 0).as_dict() == {"value": 0.0, "low": 0.0, "high": 1.0, "method": "wilson", "n": 0}
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(3, 2)


def test_bootstrap_resamples_whole_dialogues_and_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    turns = rng.integers(1, 8, size=60)
    matched = rng.binomial(turns, 0.4)
    interval = bootstrap_interval(matched, turns, seed=3)
    assert interval.value == pytest.approx(matched.sum() / turns.sum())
    assert interval.low < interval.value < interval.high and interval.high - interval.low < 0.2
    assert interval == bootstrap_interval(matched, turns, seed=3)
    # the weight of a dialogue is its turns: one long perfect dialogue moves the estimate more than a short one
    assert bootstrap_interval([10, 0], [10, 1]).value == pytest.approx(10 / 11)


def test_bootstrap_of_a_constant_score_has_zero_width_and_bad_input_is_refused() -> None:
    perfect = bootstrap_interval([3, 5, 2], [3, 5, 2])
    assert (perfect.value, perfect.low, perfect.high) == (1.0, 1.0, 1.0)
    refused = bootstrap_interval([0, 0], [4, 1])
    assert (refused.value, refused.low, refused.high) == (0.0, 0.0, 0.0)
    assert bootstrap_interval([], []).as_dict()["high"] == 1.0  # nothing counted: nothing known
    single = bootstrap_interval([2], [3])  # one dialogue: no spread to resample
    assert (single.value, single.low, single.high) == (2 / 3, 0.0, 1.0)
    with pytest.raises(ValueError, match="numerator <= denominator"):
        bootstrap_interval([2], [1])
    with pytest.raises(ValueError, match="equally long"):
        bootstrap_interval([1, 2], [2])


def test_a_paired_difference_is_tighter_than_the_two_intervals_and_sees_a_constant_gap() -> None:
    rng = np.random.default_rng(2)
    turns = rng.integers(1, 8, size=40)
    skill = rng.uniform(0, 1, size=40)  # a dialogue's difficulty, shared by both models
    better = rng.binomial(turns, np.clip(skill + 0.15, 0, 1))
    worse = rng.binomial(turns, skill)
    gap = paired_difference_interval(better, turns, worse, turns, seed=1)
    assert gap.value == pytest.approx(better.sum() / turns.sum() - worse.sum() / turns.sum())
    assert 0 < gap.low < gap.value < gap.high and gap.method == "paired_bootstrap"
    alone = bootstrap_interval(better, turns, seed=1)
    assert gap.high - gap.low < alone.high - alone.low  # the shared difficulty cancels
    same = paired_difference_interval(worse, turns, worse, turns)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)
    one_each = paired_difference_interval([1], [2], [0], [2])
    assert (one_each.value, one_each.low, one_each.high) == (0.5, -1.0, 1.0)
    with pytest.raises(ValueError, match="equally long"):
        paired_difference_interval([1], [1], [1, 0], [1, 1])
    with pytest.raises(ValueError, match="numerator"):
        paired_difference_interval([2], [1], [0], [1])
