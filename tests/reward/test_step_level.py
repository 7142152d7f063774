"""Step-level advantages from backfilled rewards, worked by hand."""

import numpy as np
import pytest

from cm2.reward import RewardConfig, TurnSpec, compute_group, item_stats, score_rollout, step_advantages

T, F = True, False

# Turn 0: a (0.6), b (0.4) depends on a. Turn 1: c (1.0). L = 2.
CHECKLIST = [
    TurnSpec(ids=("a", "b"), weights=(0.6, 0.4), dependencies=((), ("a",))),
    TurnSpec(ids=("c",), weights=(1.0,)),
]


def _group(*rows: list, unknown: str = "false") -> list:
    return [score_rollout([CHECKLIST], [r], unknown=unknown) for r in rows]  # type: ignore[arg-type]


GROUP_ROWS = (
    [[[T, F], [T, T]], [[T]]],  # r0: a at 0, b at 1; c at 0
    [[[F, T], [T, T]]],  # r1: b before a (never eligible), a at 1; stopped
    [[[T, F]], [[F], [F]]],  # r2: a at 0; c never
)


def test_step_level_scale_one() -> None:
    group = _group(*GROUP_ROWS)
    # Turn 0, all three rollouts: a flipped by 3/3 -> b_a = 1; b flipped by r0 only -> b_b = 1/3.
    stats = item_stats(group, 0, 0)
    assert stats is not None
    np.testing.assert_allclose(stats.baseline, [1.0, 1 / 3])
    assert stats.reach.tolist() == [3, 1]  # b was eligible only in r0
    # Turn 1, only r0 and r2 reached it; r1 counts as not flipping c (the paper, Eq. 9): b_c = 1/3.
    stats1 = item_stats(group, 0, 1)
    assert stats1 is not None and stats1.members == (0, 2) and stats1.population == 3
    np.testing.assert_allclose(stats1.baseline, [1 / 3])
    adv = step_advantages(group)
    # r0 t0: s0 eligible {a}: 1 - 1 = 0; s1 eligible {b}: 1 - 1/3 = 2/3.  t1: s0 {c}: 1 - 1/3 = 2/3
    # r1 t0: s0 {a}: 0; s1 {a}: 0 (b is in x_1 already, so never eligible, never rewarded nor punished)
    # r2 t0: s0 {a}: 0.  t1: s0 {c}: 0 - 1/3; s1 {c}: -1/3
    expected = [[[0.0, 2 / 3], [2 / 3]], [[0.0, 0.0]], [[0.0], [-1 / 3, -1 / 3]]]
    for got, want in zip(adv, expected, strict=True):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, atol=1e-12)


def test_step_level_reached_only_option() -> None:
    # turn_baseline="reached" (the released code's reading): turn 1's statistics over r0 and r2 only, b_c = 1/2.
    group = _group(*GROUP_ROWS)
    stats1 = item_stats(group, 0, 1, baseline="reached")
    assert stats1 is not None and stats1.population == 2
    np.testing.assert_allclose(stats1.baseline, [0.5])
    adv = compute_group(group, RewardConfig(level="step", turn_baseline="reached")).advantages
    np.testing.assert_allclose(adv[0][1], [0.5])
    np.testing.assert_allclose(adv[2][1], [-0.5, -0.5])


def test_step_level_scale_std() -> None:
    group = _group(*GROUP_ROWS)
    adv = step_advantages(group, scale="std", eps=1e-6)
    # b: values [1, 0, 0], unbiased std = sqrt(1/3) -> r0 t0 s1: (2/3) / sqrt(1/3) = 2/sqrt(3)
    # a: values [1, 1, 1], std 0 -> numerator 0 -> 0 (no blow-up)
    # c: values [1, 0, 0] (r1 never reached turn 1: not flipping), std = sqrt(1/3) -> 2/sqrt(3) and -1/sqrt(3)
    np.testing.assert_allclose(adv[0][0], [0.0, 2 / np.sqrt(3)], rtol=1e-5)
    np.testing.assert_allclose(adv[0][1], [2 / np.sqrt(3)], rtol=1e-5)
    np.testing.assert_allclose(adv[2][1], [-1 / np.sqrt(3)] * 2, rtol=1e-5)
    np.testing.assert_array_equal(adv[1][0], [0.0, 0.0])


def test_weighted_average_over_eligible_items() -> None:
    spec = TurnSpec(ids=("p", "q"), weights=(0.75, 0.25))
    group = [
        score_rollout([[spec]], [[[[T, F], [T, T]]]]),  # A: p at 0, q at 1
        score_rollout([[spec]], [[[[F, F], [F, T]]]]),  # B: q at 1, p never
    ]
    # b_p = 0.5, b_q = 1.
    # A s0: eligible {p, q}: (0.75 * (1 - 0.5) + 0.25 * (1 - 1)) / 1 = 0.375; s1: {q}: 0
    # B s0: {p, q}: (0.75 * (0 - 0.5) + 0) / 1 = -0.375; s1: {p, q}: -0.375
    adv = step_advantages(group)
    np.testing.assert_allclose(adv[0][0], [0.375, 0.0])
    np.testing.assert_allclose(adv[1][0], [-0.375, -0.375])


def test_no_eligible_item_gives_zero() -> None:
    spec = TurnSpec(ids=("p",), weights=(1.0,))
    group = [
        score_rollout([[spec]], [[[[T], [F], [F]]]]),  # p at 0; steps 1 and 2 have nothing eligible
        score_rollout([[spec]], [[[[F], [F], [F]]]]),
    ]
    adv = step_advantages(group)
    np.testing.assert_allclose(adv[0][0], [0.5, 0.0, 0.0])
    np.testing.assert_allclose(adv[1][0], [-0.5, -0.5, -0.5])


def test_min_reach_ignores_rarely_reached_items() -> None:
    group = _group(*GROUP_ROWS)
    # b was reached (eligible) by 1 rollout: min_reach=1 leaves it out, so r0 t0 s1 has no item -> 0.
    assert step_advantages(group, min_reach=1)[0][0].tolist() == [0.0, 0.0]
    assert step_advantages(group, min_reach=0)[0][0].tolist() == pytest.approx([0.0, 2 / 3])
    # c was reached by 2 rollouts: min_reach=2 removes it too; a (reach 3) stays with advantage 0.
    adv = step_advantages(group, min_reach=2)
    assert adv[0][1].tolist() == [0.0] and adv[2][1].tolist() == [0.0, 0.0]


def test_released_threshold_of_four() -> None:
    spec = TurnSpec(ids=("p",), weights=(1.0,))
    flips_first = [[[[[T]]]]] * 3 + [[[[[F]]]]] * 2  # 5 rollouts reach p, 3 flip it: b = 0.6
    group = [score_rollout([[spec]], rows) for rows in flips_first]
    adv = step_advantages(group, min_reach=4)  # reach 5 > 4: kept
    assert [float(a[0][0]) for a in adv] == pytest.approx([0.4, 0.4, 0.4, -0.6, -0.6])
    adv = step_advantages(group[:4], min_reach=4)  # reach 4 <= 4: ignored
    assert [float(a[0][0]) for a in adv] == [0.0] * 4


def test_dropped_rollouts_get_zero_and_leave_the_baseline() -> None:
    group = _group(GROUP_ROWS[0], [[[None, T], [T, T]]], GROUP_ROWS[2], unknown="drop")
    assert [r.valid for r in group] == [True, False, True]
    adv = step_advantages(group)
    # turn 0 over r0, r2: b_a = 1, b_b = 1/2 -> r0 s1: 1 - 1/2
    np.testing.assert_allclose(adv[0][0], [0.0, 0.5])
    assert all(not a.any() for a in adv[1])


def test_several_checklists_pool_eligible_items() -> None:
    one = TurnSpec(ids=("x",), weights=(1.0,))
    two = TurnSpec(ids=("y", "z"), weights=(0.5, 0.5))
    group = [
        score_rollout([[one], [two]], [[[[T]]], [[[T, T]]]]),
        score_rollout([[one], [two]], [[[[F]]], [[[F, T]]]]),
    ]
    # b_x = 0.5, b_y = 0.5, b_z = 1. Rollout 0, step 0, eligible {x, y, z}:
    # (1 * 0.5 + 0.5 * 0.5 + 0.5 * 0) / (1 + 0.5 + 0.5) = 0.375; rollout 1: (-0.5 - 0.25 + 0) / 2 = -0.375
    adv = step_advantages(group)
    assert float(adv[0][0][0]) == pytest.approx(0.375)
    assert float(adv[1][0][0]) == pytest.approx(-0.375)


def test_eta_at_step_level() -> None:
    spec = TurnSpec(ids=("p",), weights=(1.0,))
    cfg = RewardConfig(level="step", eta=0.5)
    group = [
        score_rollout([[spec]], [[[[T], [F]]]], eta=cfg.eta),  # flips at 0: value 1
        score_rollout([[spec]], [[[[F], [T]]]], eta=cfg.eta),  # flips at 1: value 0.5
    ]
    # b = 0.75; r~ = value at every eligible step -> r0 s0: 0.25; r1 s0, s1: -0.25
    scores = compute_group(group, cfg)
    np.testing.assert_allclose(scores.advantages[0][0], [0.25, 0.0])
    np.testing.assert_allclose(scores.advantages[1][0], [-0.25, -0.25])
    np.testing.assert_allclose(scores.rewards, [1.0, 0.5])


def test_group_must_share_the_checklist() -> None:
    other = TurnSpec(ids=("a", "b"), weights=(0.5, 0.5))
    group = [*_group(GROUP_ROWS[0]), score_rollout([[other, CHECKLIST[1]]], [[[[T, F]]]])]
    with pytest.raises(ValueError, match="rollout 1, checklist 0, turn 0: checklist differs from the group's"):
        step_advantages(group)
