"""cm2's group statistics equal a plain implementation of the paper's Eqs. 7-9 on thousands of random groups."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cm2.reward import RewardConfig, ScoredRollout, TurnSpec, compute_group, score_rollout
from cm2.testing.paper_equations import Item, Rows, random_case, step_advantages, trajectory_advantages, turn_advantages

CASES = 3000  # x 3 levels x 2 scales = 18,000 comparisons, as in the count
EPS = 1e-6


def as_specs(checklist: list[list[Item]]) -> list[TurnSpec]:
    specs = []
    for items in checklist:
        ids = tuple(f"c{c}" for c in range(len(items)))
        specs.append(
            TurnSpec(
                ids=ids,
                weights=tuple(item.weight for item in items),
                dependencies=tuple(tuple(ids[d] for d in item.depends_on) for item in items),
            )
        )
    return specs


def scored(checklist: list[list[Item]], group: list[list[Rows]]) -> list[ScoredRollout]:
    specs = as_specs(checklist)
    return [score_rollout([specs], [turns]) for turns in group]


def cm2_advantages(rollouts: list[ScoredRollout], level: str, **config: Any) -> list[Any]:
    cfg = RewardConfig(level=level, eps=EPS, **config)
    scores = compute_group(rollouts, cfg)
    if level == "trajectory":
        assert scores.trajectory is not None
        return [float(a) for a in scores.trajectory]
    if level == "turn":
        return [[float(steps[0]) if len(steps) else None for steps in turns] for turns in scores.advantages]
    return [[[float(a) for a in steps] for steps in turns] for turns in scores.advantages]


def paper_advantages(checklist: list[list[Item]], group: list[list[Rows]], level: str, scale: str) -> list[Any]:
    if level == "trajectory":
        return trajectory_advantages(checklist, group, scale, EPS)
    if level == "turn":
        # a turn with no steps has no tokens to carry its advantage: cm2 stores an empty array there
        per_turn = turn_advantages(checklist, group, scale, EPS)
        return [
            [a if turns[t] else None for t, a in enumerate(adv)] for adv, turns in zip(per_turn, group, strict=True)
        ]
    return step_advantages(checklist, group, scale, EPS)


def agree(mine: Any, theirs: Any) -> bool:
    if isinstance(mine, list):
        return len(mine) == len(theirs) and all(agree(a, b) for a, b in zip(mine, theirs, strict=True))
    if mine is None or theirs is None:
        return mine is None and theirs is None
    return abs(mine - theirs) < 1e-7


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
