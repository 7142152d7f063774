"""Flip rewards, satisfied states and backfill of one turn, worked by hand."""

import numpy as np
import pytest

from cm2.reward import TurnSpec, backfilled_rewards, flip_rewards

T, F = True, False

# C1: fetch the evidence; C2: answer, which depends on C1.
EVIDENCE_THEN_ANSWER = TurnSpec(ids=("C1", "C2"), weights=(0.5, 0.5), dependencies=((), ("C1",)))


def test_answer_before_evidence_never_earns() -> None:
    # step 0: C2 judged true, but C1 is not in x_0 -> C2 not eligible: no reward, yet x_1 = {C2}.
    # step 1: C1 eligible and judged true -> r[1, C1] = 1. C2 is already in x_1 -> never eligible again.
    # step 2: nothing eligible.
    flips = flip_rewards(EVIDENCE_THEN_ANSWER, [[F, T], [T, T], [T, T]])
    np.testing.assert_array_equal(flips.rewards, [[0, 0], [1, 0], [0, 0]])
    np.testing.assert_array_equal(flips.states, [[F, F], [F, T], [T, T], [T, T]])
    np.testing.assert_array_equal(flips.eligible, [[T, F], [T, F], [F, F]])
    assert flips.satisfied.tolist() == [T, T]
    assert flips.flipped.tolist() == [T, F]
    assert flips.reached.tolist() == [T, F]
    # backfill: C1 eligible at steps 0 and 1 and flips (at 1) -> r~ = 1 at both; C2 never eligible.
    np.testing.assert_array_equal(backfilled_rewards(flips), [[1, 0], [1, 0], [0, 0]])


def test_evidence_then_answer_earns_both() -> None:
    # step 0: C1 flips; step 1: C1 in x_1 so C2 is eligible, and flips.
    flips = flip_rewards(EVIDENCE_THEN_ANSWER, [[T, F], [F, T]])
    np.testing.assert_array_equal(flips.rewards, [[1, 0], [0, 1]])
    np.testing.assert_array_equal(flips.eligible, [[T, F], [F, T]])
    np.testing.assert_array_equal(backfilled_rewards(flips), [[1, 0], [0, 1]])


def test_dependency_satisfied_in_the_same_step_is_too_late() -> None:
    # Dependencies must hold in x_s, the state *before* the step: C2 enters x_1 without reward.
    flips = flip_rewards(EVIDENCE_THEN_ANSWER, [[T, T], [F, T]])
    np.testing.assert_array_equal(flips.rewards, [[1, 0], [0, 0]])


def test_satisfaction_is_cumulative_and_a_later_false_changes_nothing() -> None:
    spec = TurnSpec(ids=("a",), weights=(1.0,))
    flips = flip_rewards(spec, [[T], [F], [F]])
    np.testing.assert_array_equal(flips.rewards, [[1], [0], [0]])
    np.testing.assert_array_equal(flips.states.ravel(), [F, T, T, T])


def test_backfill_marks_every_eligible_step_of_an_item_that_flips_later() -> None:
    spec = TurnSpec(ids=("a", "b"), weights=(0.5, 0.5))
    # a flips at step 2, b never: r~[., a] = 1 at steps 0..2, r~[., b] = 0 everywhere.
    flips = flip_rewards(spec, [[F, F], [F, F], [T, F], [F, F]])
    np.testing.assert_array_equal(flips.rewards[:, 0], [0, 0, 1, 0])
    np.testing.assert_array_equal(backfilled_rewards(flips), [[1, 0], [1, 0], [1, 0], [0, 0]])


def test_eta_decays_by_steps_waited_since_eligible() -> None:
    # eta = 0.5. A has no dependency: eligible from step 0, flips at step 1 -> 0.5**1.
    # B depends on A: eligible from step 2 (A in x_2), flips at step 3 -> waited 1 step -> 0.5**1.
    # (Reading eta**s for B would give 0.5**3; the released code counts from eligibility.)
    spec = TurnSpec(ids=("A", "B"), weights=(0.5, 0.5), dependencies=((), ("A",)))
    flips = flip_rewards(spec, [[F, F], [T, F], [F, F], [F, T]], eta=0.5)
    np.testing.assert_allclose(flips.rewards, [[0.0, 0.0], [0.5, 0.0], [0.0, 0.0], [0.0, 0.5]])
    np.testing.assert_allclose(flips.value, [0.5, 0.5])
    # r~ carries the flip value at every eligible step: A at 0..1, B at 2..3.
    np.testing.assert_allclose(backfilled_rewards(flips), [[0.5, 0], [0.5, 0], [0, 0.5], [0, 0.5]])


def test_eta_for_an_item_without_dependencies_is_eta_to_the_step() -> None:
    spec = TurnSpec(ids=("a",), weights=(1.0,))
    flips = flip_rewards(spec, [[F], [F], [T]], eta=0.5)
    assert flips.rewards[2, 0] == pytest.approx(0.25)


def test_unknown_verdicts_count_as_false_and_are_flagged_only_when_they_matter() -> None:
    spec = TurnSpec(ids=("a", "b"), weights=(0.5, 0.5))
    before = flip_rewards(spec, [[None, F], [T, F]])
    np.testing.assert_array_equal(before.rewards, [[0, 0], [1, 0]])
    assert before.unknown
    # None on an already satisfied item (a judge may skip those) does not matter.
    after = flip_rewards(spec, [[T, F], [None, F]])
    assert not after.unknown


def test_zero_steps() -> None:
    flips = flip_rewards(EVIDENCE_THEN_ANSWER, [])
    assert flips.rewards.shape == (0, 2) and flips.states.shape == (1, 2)
    assert flips.value.tolist() == [0, 0]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[T]], "step 0: 1 verdicts, expected one per item (C1, C2)"),
        ([[T, F], [1, F]], "step 1, item 'C1': verdict 1 is not True, False or None"),
        ([T, F], "step 0: expected a row of verdicts (one per item), got True"),
    ],
)
def test_bad_rows_name_the_step(rows: list, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        flip_rewards(EVIDENCE_THEN_ANSWER, rows)


def test_eta_out_of_range() -> None:
    with pytest.raises(ValueError, match="eta"):
        flip_rewards(EVIDENCE_THEN_ANSWER, [], eta=0.0)
