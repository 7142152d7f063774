"""Advantages and rewards placed on completion tokens."""

import numpy as np
import pytest

from cm2.reward import (
    RewardConfig,
    TurnSpec,
    compute_group,
    place_steps,
    place_trajectory,
    place_turn_rewards,
    place_turns,
    score_rollout,
)
from cm2.schema import StepSpan

# 12 completion tokens: turn 0 step 0 = [0, 3), tool answer 3..4, turn 0 step 1 = [5, 8), user 8,
# turn 1 step 0 = [9, 12). Tool and user tokens are masked out, and so is token 11 (say, a stop token);
# token 4 is unmasked but outside every span.
SPANS = [(0, 0, 0, 3), (0, 1, 5, 8), (1, 0, 9, 12)]
MASK = [1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 0]


def test_trajectory_placement() -> None:
    out = place_trajectory(0.5, SPANS, MASK)
    np.testing.assert_array_equal(out, [0.5, 0.5, 0.5, 0, 0, 0.5, 0.5, 0.5, 0, 0.5, 0.5, 0])


def test_turn_placement_accepts_schema_spans() -> None:
    spans = [StepSpan(turn=t, step=s, start=a, end=b) for t, s, a, b in SPANS]
    out = place_turns([0.2, -0.3], spans, np.asarray(MASK))
    np.testing.assert_array_equal(out, [0.2, 0.2, 0.2, 0, 0, 0.2, 0.2, 0.2, 0, -0.3, -0.3, 0])


def test_step_placement() -> None:
    out = place_steps([[1.0, 2.0], [3.0]], SPANS, MASK)
    np.testing.assert_array_equal(out, [1, 1, 1, 0, 0, 2, 2, 2, 0, 3, 3, 0])


def test_turn_rewards_on_last_trained_token() -> None:
    out = place_turn_rewards([0.4, 0.1], SPANS, MASK)
    # turn 0 ends at token 7; turn 1's last token (11) is masked, so its reward goes on token 10
    expected = np.zeros(12)
    expected[7], expected[10] = 0.4, 0.1
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: place_trajectory(1.0, [(0, 0, 0, 3), (0, 1, 2, 5)], [1] * 6), "overlap"),
        (lambda: place_trajectory(1.0, [(0, 0, 0, 7)], [1] * 6), r"\[0, 7\) is outside the 6 tokens"),
        (lambda: place_turns([0.1], SPANS, MASK), "span of turn 1 step 0: advantages given for 1 turns"),
        (lambda: place_steps([[1.0], [3.0]], SPANS, MASK), "span of turn 0 step 1: no step advantage"),
        (lambda: place_turn_rewards([0.4, 0.1, 0.2], SPANS, MASK), "turn 2: reward 0.2 but no trained"),
        (lambda: place_turn_rewards([0.4], [(0, 0, 0, 2)], [0, 0]), "turn 0: reward 0.4 but no trained"),
    ],
)
def test_placement_errors(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call()


def test_group_scores_place_tokens() -> None:
    t0 = TurnSpec(ids=("a",), weights=(1.0,))
    t1 = TurnSpec(ids=("b",), weights=(1.0,))
    rows = [
        [[[[False], [True]], [[True]]]],  # a at step 1, b at step 0: R = (1 + 1) / 2 = 1
        [[[[False], [False]], [[False]]]],  # R = 0
    ]
    for level in ("trajectory", "turn", "step"):
        cfg = RewardConfig(level=level)
        scores = compute_group([score_rollout([[t0, t1]], r) for r in rows], cfg)
        tokens = scores.token_advantages(0, SPANS, MASK)
        assert tokens[3] == tokens[4] == tokens[8] == tokens[11] == 0.0
        rewards = scores.token_rewards(0, SPANS, MASK)
        assert rewards.sum() == pytest.approx(scores.rewards[0]) == pytest.approx(1.0)
        assert rewards[7] == pytest.approx(0.5) and rewards[10] == pytest.approx(0.5)
    # step level: rollout 0 turn 0: b_a = 0.5 -> steps 0 and 1 (a eligible at both) get +0.5; turn 1 +0.5
    np.testing.assert_array_equal(tokens, [0.5, 0.5, 0.5, 0, 0, 0.5, 0.5, 0.5, 0, 0.5, 0.5, 0])
