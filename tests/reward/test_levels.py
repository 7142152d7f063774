"""Turn and trajectory rewards, paper vs released, early stop and several checklists, by hand."""

from typing import Any

import numpy as np
import pytest

from cm2.reward import (
    TurnSpec,
    average_checklists,
    flip_rewards,
    score_rollout,
    trajectory_reward,
    turn_reward,
    turn_rewards,
)

T, F = True, False

# Turn 0: a (0.6), b (0.4) which depends on a. Turn 1: c (1.0).
TURN0 = TurnSpec(ids=("a", "b"), weights=(0.6, 0.4), dependencies=((), ("a",)))
TURN1 = TurnSpec(ids=("c",), weights=(1.0,))
CHECKLIST = [TURN0, TURN1]


def test_paper_and_released_turn_rewards() -> None:
    # b judged true at step 0 before a: paper earns only a (0.6); released counts both (1.0).
    flips = flip_rewards(TURN0, [[F, T], [T, T]])
    assert turn_reward(flips, "paper") == pytest.approx(0.6)
    assert turn_reward(flips, "released") == pytest.approx(1.0)


def test_released_counts_each_item_once() -> None:
    flips = flip_rewards(TURN0, [[T, T], [T, T], [T, T]])
    assert turn_reward(flips, "released") == pytest.approx(1.0)


def test_trajectory_reward_divides_by_reference_turns() -> None:
    # Full rollout: turn 0 = 0.6 + 0.4 (b after a), turn 1 = 1.0 -> R = 2.0 / 2 = 1.0.
    full = [flip_rewards(TURN0, [[T, F], [T, T]]), flip_rewards(TURN1, [[T]])]
    assert turn_rewards(full) == pytest.approx([1.0, 1.0])
    assert trajectory_reward(full, 2) == pytest.approx(1.0)
    # Stopped after turn 0 with a perfect turn: it forfeits turn 1 -> R = 1.0 / 2 = 0.5.
    assert trajectory_reward(full[:1], 2) == pytest.approx(0.5)


def test_trajectory_reward_rejects_more_turns_than_the_reference() -> None:
    turns = [flip_rewards(TURN1, [[T]])] * 3
    with pytest.raises(ValueError, match="3 turns scored but the reference checklist has 2"):
        trajectory_reward(turns, 2)


def test_several_checklists_are_averaged() -> None:
    # Checklist A: x (1.0) true -> 1.0. Checklist B: y (0.5) true, z (0.5) false -> 0.5. Mean 0.75.
    spec_a = TurnSpec(ids=("x",), weights=(1.0,))
    spec_b = TurnSpec(ids=("y", "z"), weights=(0.5, 0.5))
    rollout = score_rollout([[spec_a], [spec_b]], [[[[T]]], [[[T, F]]]])
    assert rollout.reward() == pytest.approx(0.75)
    assert rollout.turn_rewards() == pytest.approx([0.75])
    assert average_checklists([1.0, 0.5]) == pytest.approx(0.75)


def test_reward_by_turn_sums_to_the_reward() -> None:
    # L = 2; turn 0 earns 0.6 (b premature), turn 1 earns 1.0 -> shares 0.3 and 0.5, R = 0.8.
    rollout = score_rollout([CHECKLIST], [[[[F, T], [T, T]], [[T]]]])
    assert rollout.reward_by_turn() == pytest.approx([0.3, 0.5])
    assert sum(rollout.reward_by_turn()) == pytest.approx(rollout.reward()) == pytest.approx(0.8)
    assert rollout.num_turns == 2 and rollout.steps_per_turn == [2, 1]


def test_score_rollout_drop_policy_marks_invalid() -> None:
    rows: Any = [[[[None, F], [T, T]]]]
    assert score_rollout([CHECKLIST], rows, unknown="false").valid
    dropped = score_rollout([CHECKLIST], rows, unknown="drop")
    assert not dropped.valid
    # Still computed, None counted as false: a flips at step 1 (0.6); b, true in the same step, is
    # not eligible yet -> R = 0.6 / 2 = 0.3.
    assert dropped.reward() == pytest.approx(0.3)


def test_score_rollout_errors_name_checklist_and_turn() -> None:
    with pytest.raises(ValueError, match="checklist 0, turn 1: step 0: 2 verdicts"):
        score_rollout([CHECKLIST], [[[[T, F]], [[T, F]]]])
    with pytest.raises(ValueError, match="checklist 1: verdicts for 2 turns, checklist 0 has 1"):
        score_rollout([CHECKLIST, CHECKLIST], [[[[T, F]]], [[[T, F]], [[T]]]])
    with pytest.raises(ValueError, match="checklist 1, turn 0: 2 steps, checklist 0 has 1"):
        score_rollout([CHECKLIST, CHECKLIST], [[[[T, F]]], [[[T, F], [T, T]]]])
    with pytest.raises(ValueError, match="verdicts for 3 turns, but the checklist has 2"):
        score_rollout([CHECKLIST], [[[[T, F]], [[T]], [[T]]]])


def test_rollout_with_no_turns_scores_zero() -> None:
    rollout = score_rollout([CHECKLIST], [[]])
    assert rollout.reward() == 0.0 and rollout.turn_rewards() == [] and rollout.reward_by_turn() == []
    assert np.isfinite(rollout.reward())
