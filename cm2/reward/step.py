"""Step-level advantages from backfilled item rewards.

For checklist turn t and item c, over the group's valid rollouts (`baseline="all"`, the paper: one that never
reached turn t counts as not flipping) or over the valid rollouts that reached turn t (`baseline="reached"`,
the released code's reading):
- `b[t, c]` = mean over those rollouts of what the item earned in the turn (the share of the group that
  flips it; with a decay, the mean flip value);
- `F[t, c]` = standard deviation of the same values plus eps (scale="std"), or 1 (scale="one");
- item advantage at step s: `(r~[t, s, c] - b[t, c]) / F[t, c]`;
- step advantage: the weight-averaged item advantage over the items eligible at s (dependencies in x_s,
  item not in x_s); 0 when no item is eligible (or their weights are all 0).

With several checklists the eligible items of every checklist are pooled into one weighted average.
With `min_reach`, items reached (eligible at some step) by at most `min_reach` of those rollouts are left
out (released knob; it used 4). Invalid rollouts get 0 and are left out of b and F.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cm2.reward.advantages import centred
from cm2.reward.config import Scale, TurnBaseline
from cm2.reward.levels import ScoredRollout


@dataclass(frozen=True)
class ItemStats:
    """Group statistics of one checklist turn's items (arrays of shape (C,))."""

    members: tuple[int, ...]
    """Rollouts (group indices) that carry step advantages in this turn: valid and reached the turn."""
    population: int
    """How many valid rollouts the statistics run over (members, plus the non-reaching ones under "all")."""
    baseline: np.ndarray
    """b: mean over the population of what each item earned in the turn (0 for a rollout that never got there)."""
    deviation: np.ndarray
    """(members, C): each member's value minus b, exactly 0 where all members agree."""
    scale: np.ndarray
    """F: standard deviation of the values plus eps, or 1."""
    reach: np.ndarray
    """How many member rollouts had the item eligible at some step."""
    keep: np.ndarray
    """Items that take part in step advantages (all, unless `min_reach` leaves some out)."""


def item_stats(
    group: Sequence[ScoredRollout],
    checklist: int,
    turn: int,
    *,
    scale: Scale = "one",
    eps: float = 1e-6,
    min_reach: int | None = None,
    baseline: TurnBaseline = "all",
) -> ItemStats | None:
    """b, F and reach of every item of (checklist, turn); None when no valid rollout reached the turn."""
    members = tuple(i for i, rollout in enumerate(group) if rollout.valid and rollout.num_turns > turn)
    if not members:
        return None
    turns = [group[i].checklists[checklist][turn] for i in members]
    spec = turns[0].spec
    for i, flips in zip(members, turns, strict=True):
        if flips.spec != spec:
            raise ValueError(f"rollout {i}, checklist {checklist}, turn {turn}: checklist differs from the group's")
    values = np.stack([flips.value for flips in turns])
    if baseline == "all":
        absent = sum(1 for rollout in group if rollout.valid and rollout.num_turns <= turn)
        values = np.concatenate([values, np.zeros((absent, values.shape[1]))])  # never reached: never flipped
    mean = values.mean(axis=0)
    use_std = scale == "std" and len(values) > 1
    divisor = values.std(axis=0, ddof=1) + eps if use_std else np.ones_like(mean)
    divisor[divisor == 0] = 1.0  # eps = 0 and all equal: the numerator is 0 anyway
    reach = np.stack([flips.reached for flips in turns]).sum(axis=0)
    keep = reach > min_reach if min_reach is not None else np.ones_like(reach, dtype=bool)
    return ItemStats(
        members=members,
        population=len(values),
        baseline=mean,
        deviation=centred(values)[: len(members)],
        scale=divisor,
        reach=reach,
        keep=keep,
    )


def step_advantages(
    group: Sequence[ScoredRollout],
    *,
    scale: Scale = "one",
    eps: float = 1e-6,
    min_reach: int | None = None,
    baseline: TurnBaseline = "all",
) -> list[list[np.ndarray]]:
    """Per rollout, per reached turn, an (S_t,) array of step advantages."""
    if not group:
        return []
    num_checklists = len(group[0].checklists)
    for i, rollout in enumerate(group):
        if len(rollout.checklists) != num_checklists:
            raise ValueError(f"rollout {i}: {len(rollout.checklists)} checklists, rollout 0 has {num_checklists}")
    numer = [[np.zeros(s) for s in rollout.steps_per_turn] for rollout in group]
    denom = [[np.zeros(s) for s in rollout.steps_per_turn] for rollout in group]
    longest = max(rollout.num_turns for rollout in group)
    for k in range(num_checklists):
        for t in range(longest):
            stats = item_stats(group, k, t, scale=scale, eps=eps, min_reach=min_reach, baseline=baseline)
            if stats is None:
                continue
            for j, i in enumerate(stats.members):
                flips = group[i].checklists[k][t]
                weights = flips.spec.weight_array * stats.keep
                # r~ equals the item's flip value at every eligible step, so (r~ - b) / F there is:
                item_advantage = stats.deviation[j] / stats.scale
                numer[i][t] += flips.eligible @ (weights * item_advantage)
                denom[i][t] += flips.eligible @ weights
    return [
        [np.divide(n, d, out=np.zeros_like(n), where=d > 0) for n, d in zip(ns, ds, strict=True)]
        for ns, ds in zip(numer, denom, strict=True)
    ]
