"""GRPO advantages at trajectory and turn level: A = (R - mean_group R) / F.

`F` is the group's standard deviation plus `eps` (scale="std", GRPO) or 1 (scale="one", Dr. GRPO and
the paper's final setting). The standard deviation is the unbiased one (ddof=1) as in TRL's and VeRL's
GRPO, and `eps` is added to it, `(x - mean) / (std + eps)`, so a group whose rewards are all equal gets
zero advantages. A group with a single usable member gets 0 (nothing to compare against).
Invalid (dropped) rollouts are left out of the mean and the standard deviation and get 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cm2.reward.config import Scale, TurnBaseline


def _valid_mask(size: int, valid: Sequence[bool] | np.ndarray | None) -> np.ndarray:
    if valid is None:
        return np.ones(size, dtype=bool)
    if len(valid) != size:
        raise ValueError(f"{len(valid)} validity flags for a group of {size}")
    return np.asarray(valid, dtype=bool)


def centred(values: np.ndarray) -> np.ndarray:
    """`values - mean` along axis 0, exactly 0 in columns whose values are all equal (no rounding residue)."""
    deviation = values - values.mean(axis=0)
    return np.where((values == values[:1]).all(axis=0), 0.0, deviation)


def group_scale(values: np.ndarray, scale: Scale, eps: float) -> float:
    """The divisor F for centred `values` of one group (at least two values)."""
    if scale == "one":
        return 1.0
    return float(np.std(values, ddof=1)) + eps


def group_advantages(
    rewards: Sequence[float] | np.ndarray,
    valid: Sequence[bool] | np.ndarray | None = None,
    *,
    scale: Scale = "one",
    eps: float = 1e-6,
) -> np.ndarray:
    """One advantage per member of a group: (R_i - mean) / F over the valid members, 0 for the rest."""
    values = np.asarray(rewards, dtype=float).reshape(-1)
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"rollout {bad}: reward {values[bad]} is not a finite number")
    mask = _valid_mask(values.size, valid)
    out = np.zeros_like(values)
    if mask.sum() < 2:
        return out
    kept = values[mask]
    out[mask] = centred(kept) / (group_scale(kept, scale, eps) or 1.0)  # 0 only if all equal
    return out


trajectory_advantages = group_advantages
"""Trajectory level: the group advantage of each rollout's reward R."""


def turn_advantages(
    turn_rewards: Sequence[Sequence[float]],
    valid: Sequence[bool] | np.ndarray | None = None,
    *,
    scale: Scale = "one",
    eps: float = 1e-6,
    baseline: TurnBaseline = "all",
) -> list[np.ndarray]:
    """Turn level: per turn index t, group advantages of R_t, given to the valid rollouts that reached turn t.

    `turn_rewards[i]` lists R_t for the turns rollout i reached (ragged); the result for rollout i has one
    entry per turn it reached (a rollout has no tokens in a turn it never reached). `baseline="all"` (the
    paper): the mean and F of turn t run over every valid rollout, one that stopped before turn t counting
    R_t = 0. `baseline="reached"` (the released code): over the valid rollouts that reached turn t only.
    """
    mask = _valid_mask(len(turn_rewards), valid)
    out = [np.zeros(len(rewards), dtype=float) for rewards in turn_rewards]
    longest = max((len(rewards) for rewards in turn_rewards), default=0)
    for t in range(longest):
        reached = [i for i, rewards in enumerate(turn_rewards) if len(rewards) > t]
        members = reached if baseline == "reached" else list(range(len(turn_rewards)))
        values = [turn_rewards[i][t] if len(turn_rewards[i]) > t else 0.0 for i in members]
        advantages = group_advantages(values, [bool(mask[i]) for i in members], scale=scale, eps=eps)
        for i, advantage in zip(members, advantages, strict=True):
            if len(turn_rewards[i]) > t:
                out[i][t] = advantage
    return out
