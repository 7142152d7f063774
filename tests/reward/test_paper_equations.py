"""cm2's group statistics equal a plain implementation of the paper's Eqs. 7-9 on thousands of random groups."""

from __future__ import annotations

import numpy as np
import pytest

from cm2.testing.paper_comparison import agree, cm2_advantages, paper_advantages, scored
from cm2.testing.paper_equations import Item, Rows, random_case

CASES = 3000  # x 3 levels x 2 scales = 18,000 comparisons, as in the count


def test_all_three_levels_follow_the_paper_on_random_groups_with_uneven_reach() -> None:
    rng = np.random.default_rng(20260212)
    uneven = 0
    for case in range(CASES):
        checklist, group = random_case(rng)
        uneven += len({len(turns) for turns in group}) > 1
        rollouts = scored(checklist, group)
        for level in ("trajectory", "turn", "step"):
            for scale in ("one", "std"):
                mine = cm2_advantages(rollouts, level, scale=scale)
                theirs = paper_advantages(checklist, group, level, scale)
                assert agree(mine, theirs), (case, level, scale, checklist, group, mine, theirs)
    assert uneven > CASES // 2  # most groups have rollouts that stopped at different turns


def test_the_reached_only_reading_differs_exactly_on_uneven_reach() -> None:
    rng = np.random.default_rng(7)
    differ = {"turn": 0, "step": 0}
    for _ in range(400):
        checklist, group = random_case(rng)
        even = len({len(turns) for turns in group}) == 1
        rollouts = scored(checklist, group)
        for level in differ:
            same = agree(
                cm2_advantages(rollouts, level, turn_baseline="reached"),
                paper_advantages(checklist, group, level, "one"),
            )
            assert same or not even  # with even reach both readings are the same numbers
            differ[level] += not same
    assert differ["turn"] > 0 and differ["step"] > 0


@pytest.mark.parametrize("level", ["turn", "step"])
def test_the_only_rollout_reaching_a_turn_and_succeeding_is_credited(level: str) -> None:
    checklist = [[Item(1.0, ())], [Item(1.0, ())]]
    group: list[list[Rows]] = [[[[True]], [[True]]], [[[True]]], [[[True]]], [[[True]]]]
    rollouts = scored(checklist, group)
    second_turn = cm2_advantages(rollouts, level)[0][1]
    second_turn = second_turn if level == "turn" else second_turn[0]
    assert second_turn == pytest.approx(0.75)
    reached = cm2_advantages(rollouts, level, turn_baseline="reached")[0][1]
    assert (reached if level == "turn" else reached[0]) == 0.0
