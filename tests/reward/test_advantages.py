"""Trajectory- and turn-level GRPO advantages, worked by hand on a group of three rollouts."""

import math
from typing import Any

import numpy as np
import pytest

from cm2.reward import (
    GroupScores,
    RewardConfig,
    TurnSpec,
    compute_group,
    group_advantages,
    score_rollouts,
    trajectory_advantages,
    turn_advantages,
)

T, F = True, False

# Reference checklist, L = 2. Turn 0: a (0.6), b (0.4) depends on a. Turn 1: c (1.0).
CHECKLISTS = [
    [TurnSpec(ids=("a", "b"), weights=(0.6, 0.4), dependencies=((), ("a",))), TurnSpec(ids=("c",), weights=(1.0,))]
]
# verdicts[i][k][t] = rows (steps x items)
GROUP: list[Any] = [
    # r0: a at step 0, b at step 1 -> turn 0 = 1.0; c at step 0 -> turn 1 = 1.0. R = 2.0 / 2 = 1.0
    [[[[T, F], [T, T]], [[T]]]],
    # r1: b before a -> only a earns, turn 0 = 0.6; stopped after turn 0. R = 0.6 / 2 = 0.3
    [[[[F, T], [T, T]]]],
    # r2: a at step 0 -> 0.6 (one step, b never eligible); turn 1: c never -> 0. R = 0.6 / 2 = 0.3
    [[[[T, F]], [[F], [F]]]],
]


def _scores(**config: Any) -> GroupScores:
    cfg = RewardConfig(**config)
    return compute_group(score_rollouts(CHECKLISTS, GROUP, cfg), cfg)


def test_trajectory_level_scale_one() -> None:
    scores = _scores(level="trajectory")
    np.testing.assert_allclose(scores.rewards, [1.0, 0.3, 0.3])
    # mean = 1.6 / 3 = 0.5333 -> A = [7/15, -7/30, -7/30]
    assert scores.trajectory is not None
    np.testing.assert_allclose(scores.trajectory, [7 / 15, -7 / 30, -7 / 30])
    # every step of a rollout carries its advantage
    np.testing.assert_allclose(np.concatenate(scores.advantages[2]), [-7 / 30] * 3)
    assert [len(turn) for turn in scores.advantages[2]] == [1, 2]


def test_trajectory_level_scale_std() -> None:
    # unbiased variance = ((7/15)^2 + 2 (7/30)^2) / 2 = 49/300 -> std = 7 / (10 sqrt 3)
    # A = [2/sqrt 3, -1/sqrt 3, -1/sqrt 3] (eps 1e-6 is negligible here)
    scores = _scores(level="trajectory", scale="std")
    root3 = math.sqrt(3)
    assert scores.trajectory is not None
    np.testing.assert_allclose(scores.trajectory, [2 / root3, -1 / root3, -1 / root3], rtol=1e-5)


def test_released_mode_rewards() -> None:
    # r0: 1 + 1 -> 1.0; r1: a and b both satisfied -> 1.0 / 2 = 0.5; r2: 0.6 + 0 -> 0.3
    scores = _scores(level="trajectory", mode="released")
    np.testing.assert_allclose(scores.rewards, [1.0, 0.5, 0.3])
    assert scores.trajectory is not None
    np.testing.assert_allclose(scores.trajectory, [1.0 - 0.6, 0.5 - 0.6, 0.3 - 0.6])


def test_turn_level() -> None:
    scores = _scores(level="turn")
    assert scores.turn_rewards == [pytest.approx([1.0, 1.0]), pytest.approx([0.6]), pytest.approx([0.6, 0.0])]
    # turn 0 over all three: mean 2.2/3 -> [0.2667, -0.1333, -0.1333]
    # turn 1 (the paper, Eq. 8): over all three, r1 never got there and counts 0: mean 1/3 -> [2/3, -1/3];
    # r1 has no turn-1 tokens, so no advantage for it
    expected = [[4 / 15, 2 / 3], [-2 / 15], [-2 / 15, -1 / 3]]
    for got, want in zip(scores.advantages, expected, strict=True):
        assert [float(turn[0]) for turn in got] == pytest.approx(want)
    assert [len(turn) for turn in scores.advantages[2]] == [1, 2]  # one value per step


def test_turn_level_reached_only_option() -> None:
    # turn_baseline="reached" (the released code's reading, the default before the paper-exact fix):
    # turn 1 over r0 and r2 only: mean 0.5 -> [0.5, -0.5]
    scores = _scores(level="turn", turn_baseline="reached")
    expected = [[4 / 15, 0.5], [-2 / 15], [-2 / 15, -0.5]]
    for got, want in zip(scores.advantages, expected, strict=True):
        assert [float(turn[0]) for turn in got] == pytest.approx(want)
    assert RewardConfig(mode="released").turn_baseline == "reached"  # released mode keeps its old statistics
    assert RewardConfig().turn_baseline == "all"


def test_turn_advantages_direct() -> None:
    out = turn_advantages([[1.0, 1.0], [0.6], [0.6, 0.0]])
    assert [a.tolist() for a in out] == [
        pytest.approx([4 / 15, 2 / 3]),
        pytest.approx([-2 / 15]),
        pytest.approx([-2 / 15, -1 / 3]),
    ]
    reached = turn_advantages([[1.0, 1.0], [0.6], [0.6, 0.0]], baseline="reached")
    assert [a.tolist() for a in reached] == [
        pytest.approx([4 / 15, 0.5]),
        pytest.approx([-2 / 15]),
        pytest.approx([-2 / 15, -0.5]),
    ]


def test_only_rollout_reaching_a_turn_and_succeeding_gets_credit() -> None:
    # The case: one rollout of four reaches turn 1 and succeeds. Reached-only statistics give it 0.
    rewards = [[1.0, 1.0], [1.0], [1.0], [1.0]]
    assert turn_advantages(rewards)[0][1] == pytest.approx(0.75)
    assert turn_advantages(rewards, baseline="reached")[0][1] == 0.0


def test_drop_excludes_rollout_from_statistics() -> None:
    # r1's first verdict on a is unknown -> dropped: mean over r0 and r2 = (1.0 + 0.3) / 2 = 0.65
    group: list[Any] = [GROUP[0], [[[[None, T], [T, T]]]], GROUP[2]]
    cfg = RewardConfig(unknown="drop")
    scores = compute_group(score_rollouts(CHECKLISTS, group, cfg), cfg)
    assert scores.valid.tolist() == [True, False, True]
    assert scores.trajectory is not None
    np.testing.assert_allclose(scores.trajectory, [0.35, 0.0, -0.35])
    # the same rollout under unknown="false" stays in the group
    cfg = RewardConfig(unknown="false")
    kept = compute_group(score_rollouts(CHECKLISTS, group, cfg), cfg)
    assert kept.valid.all() and kept.trajectory is not None and kept.trajectory[1] != 0


def test_drop_at_turn_level() -> None:
    out = turn_advantages([[1.0, 1.0], [0.6], [0.6, 0.0]], [True, False, True])
    # turn 0 over r0, r2: mean 0.8; turn 1 over r0, r2 (r1 is dropped, not merely absent): mean 0.5
    assert [a.tolist() for a in out] == [pytest.approx([0.2, 0.5]), [0.0], pytest.approx([-0.2, -0.5])]


def test_equal_rewards_give_zero_even_with_std() -> None:
    np.testing.assert_array_equal(group_advantages([0.4, 0.4, 0.4], scale="std"), [0.0, 0.0, 0.0])


def test_single_usable_member_gets_zero() -> None:
    np.testing.assert_array_equal(trajectory_advantages([0.9]), [0.0])
    np.testing.assert_array_equal(trajectory_advantages([0.9, 0.1], [True, False], scale="std"), [0.0, 0.0])


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="2 validity flags for a group of 3"):
        group_advantages([0.1, 0.2, 0.3], [True, True])
    with pytest.raises(ValueError, match="rollout 1: reward nan"):
        group_advantages([0.1, float("nan")])
