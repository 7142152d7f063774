"""Property tests: random checklists (dependency DAGs), verdicts with unknowns, groups of rollouts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cm2.reward import (
    RewardConfig,
    ScoredRollout,
    TurnSpec,
    UnknownPolicy,
    backfilled_rewards,
    compute_group,
    flip_rewards,
    score_rollout,
    step_advantages,
    turn_advantages,
)

SETTINGS = settings(max_examples=80, deadline=None)
TOL = 1e-9


@st.composite
def turn_specs(draw: st.DrawFn, max_items: int = 4) -> TurnSpec:
    """A turn with random weights summing to 1 and random acyclic dependencies (any item order)."""
    n = draw(st.integers(1, max_items))
    ids = tuple(f"C{c}" for c in range(n))
    order = draw(st.permutations(range(n)))
    deps: list[tuple[str, ...]] = [() for _ in range(n)]
    for position, c in enumerate(order):
        earlier = list(order[:position])
        chosen = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2)) if earlier else []
        deps[c] = tuple(ids[d] for d in chosen)
    raw = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    total = sum(raw)
    weights = tuple(w / total for w in raw) if total > 0 else (1.0 / n,) * n
    return TurnSpec(ids=ids, weights=weights, dependencies=tuple(deps))


VERDICT = st.sampled_from([True, True, False, False, None])


def verdict_rows(spec: TurnSpec, steps: int) -> st.SearchStrategy[list[list[bool | None]]]:
    row = st.lists(VERDICT, min_size=spec.num_items, max_size=spec.num_items)
    return st.lists(row, min_size=steps, max_size=steps)


@st.composite
def turns(draw: st.DrawFn) -> tuple[TurnSpec, list[list[bool | None]], float]:
    spec = draw(turn_specs())
    rows = draw(verdict_rows(spec, draw(st.integers(0, 6))))
    return spec, rows, draw(st.sampled_from([1.0, 0.9, 0.5]))


@st.composite
def groups(draw: st.DrawFn) -> tuple[list[ScoredRollout], float]:
    """1..5 rollouts of one dialogue with 1..2 checklists of 1..3 turns; rollouts may stop early."""
    num_turns = draw(st.integers(1, 3))
    checklists = [[draw(turn_specs()) for _ in range(num_turns)] for _ in range(draw(st.integers(1, 2)))]
    eta = draw(st.sampled_from([1.0, 0.7]))
    unknown: UnknownPolicy = draw(st.sampled_from(["false", "drop"]))
    group = []
    for _ in range(draw(st.integers(1, 5))):
        steps = [draw(st.integers(0, 4)) for _ in range(draw(st.integers(0, num_turns)))]
        verdicts = [[draw(verdict_rows(specs[t], s)) for t, s in enumerate(steps)] for specs in checklists]
        group.append(score_rollout(checklists, verdicts, eta=eta, unknown=unknown))
    return group, eta


def literal_flips(spec: TurnSpec, rows: Sequence[Sequence[bool | None]], eta: float) -> tuple[np.ndarray, list[set]]:
    """DESIGN.md's definition written with sets, step by step."""
    deps = dict(zip(spec.ids, spec.dependencies, strict=True))
    rewards = np.zeros((len(rows), spec.num_items))
    waited = dict.fromkeys(spec.ids, 0)
    x: set[str] = set()
    states = [set(x)]
    for s, row in enumerate(rows):
        judged = {c for c, verdict in zip(spec.ids, row, strict=True) if verdict is True}
        for j, c in enumerate(spec.ids):
            if set(deps[c]) <= x and c not in x:
                if c in judged:
                    rewards[s, j] = eta ** waited[c]
                waited[c] += 1
        x = x | judged
        states.append(set(x))
    return rewards, states


@SETTINGS
@given(turns())
def test_flips_match_the_literal_definition(case: tuple) -> None:
    spec, rows, eta = case
    flips = flip_rewards(spec, rows, eta=eta)
    rewards, states = literal_flips(spec, rows, eta)
    np.testing.assert_allclose(flips.rewards, rewards)
    assert [{c for c, on in zip(spec.ids, state, strict=True) if on} for state in flips.states] == states


@SETTINGS
@given(turns())
def test_each_item_flips_at_most_once_and_only_when_its_dependencies_hold(case: tuple) -> None:
    spec, rows, eta = case
    flips = flip_rewards(spec, rows, eta=eta)
    assert ((flips.rewards > 0).sum(axis=0) <= 1).all()
    for s, c in zip(*np.nonzero(flips.rewards), strict=True):
        before, after = flips.states[s], flips.states[s + 1]
        assert all(before[spec.index(d)] for d in spec.dependencies[c])
        assert not before[c] and after[c]
    # backfill: r~ >= r, nonzero only where eligible, equal to the item's flip value there
    backfill = backfilled_rewards(flips)
    assert (backfill >= flips.rewards - TOL).all()
    assert not backfill[~flips.eligible].any()
    np.testing.assert_allclose(backfill[flips.eligible], np.broadcast_to(flips.value, backfill.shape)[flips.eligible])


@SETTINGS
@given(groups())
def test_rewards_lie_in_the_unit_interval(case: tuple) -> None:
    group, eta = case
    for rollout in group:
        paper = rollout.reward("paper")
        assert -TOL <= paper <= 1 + TOL
        assert abs(sum(rollout.reward_by_turn()) - paper) < TOL
        if eta == 1.0:
            # flips are a subset of satisfied items, so the paper's score never exceeds the released one
            assert paper <= rollout.reward("released") + TOL <= 1 + 2 * TOL


@SETTINGS
@given(groups())
def test_advantages_sum_to_zero_over_the_group_with_unit_scale(case: tuple) -> None:
    group, _ = case
    valid = np.asarray([r.valid for r in group])
    trajectory = compute_group(group, RewardConfig(level="trajectory"))
    assert trajectory.trajectory is not None
    assert abs(trajectory.trajectory[valid].sum()) < TOL
    assert not trajectory.trajectory[~valid].any()
    for baseline in ("all", "reached"):
        scores = compute_group(group, RewardConfig(level="turn", turn_baseline=baseline))
        per_turn = turn_advantages(scores.turn_rewards, valid, baseline=baseline)
        for t in range(max(r.num_turns for r in group)):
            members = [i for i, r in enumerate(group) if r.num_turns > t]
            total = sum(per_turn[i][t] for i in members if valid[i])
            if baseline == "all":
                # The paper's mean runs over every valid rollout; one that never reached turn t stands for
                # R_t = 0 there, i.e. for an advantage of -mean that no token carries: the sum with those is 0.
                absent = [i for i, r in enumerate(group) if r.num_turns <= t and valid[i]]
                population = [scores.turn_rewards[i][t] if r.num_turns > t else 0.0 for i, r in enumerate(group)]
                kept = [v for v, ok in zip(population, valid, strict=True) if ok]
                if len(kept) >= 2 and members and any(valid[i] for i in members):
                    total -= len(absent) * float(np.mean(kept))
            assert abs(total) < TOL
            assert all(per_turn[i][t] == 0 for i in members if not valid[i])
            for i in members:  # every step of the turn carries the turn's advantage
                assert (scores.advantages[i][t] == per_turn[i][t]).all()


@SETTINGS
@given(groups())
def test_std_scaled_trajectory_advantages_have_unit_spread(case: tuple) -> None:
    group, _ = case
    scores = compute_group(group, RewardConfig(scale="std", eps=0.0))  # eps 0: exact unit spread
    kept = scores.rewards[scores.valid]
    if kept.size >= 2 and np.std(kept, ddof=1) > 1e-6:
        assert scores.trajectory is not None
        assert abs(np.std(scores.trajectory[scores.valid], ddof=1) - 1.0) < 1e-6


@SETTINGS
@given(groups())
def test_step_advantage_is_zero_when_no_item_is_eligible(case: tuple) -> None:
    group, _ = case
    advantages = step_advantages(group)
    for i, rollout in enumerate(group):
        for t in range(rollout.num_turns):
            eligible_weight = sum(flips[t].eligible @ flips[t].spec.weight_array for flips in rollout.checklists)
            values = advantages[i][t]
            assert values.shape == (rollout.steps_per_turn[t],)
            assert not values[eligible_weight == 0].any()
            assert (np.abs(values) <= 1 + TOL).all()  # r~ and b lie in [0, 1] and F = 1
            if not rollout.valid:
                assert not values.any()
    scaled = step_advantages(group, scale="std", eps=0.0)
    assert all(np.isfinite(values).all() for per_rollout in scaled for values in per_rollout)
