"""Flip rewards of one turn of one rollout: from per-step judge verdicts to r[s, c] and r~[s, c].

Notation (DESIGN.md §1 "Rewards"): `x_s` is the set of items satisfied before assistant step `s`
(`x_0` is empty), and `x_{s+1} = x_s ∪ {c : the judge says c holds at step s}`. Satisfaction is
cumulative within the turn, whatever the dependencies.

- Item `c` is *eligible* at step `s` when every dependency of `c` is in `x_s` and `c` is not.
- The flip reward `r[s, c]` is 1 when `c` is eligible at `s` and in `x_{s+1}`.
- An item judged true while a dependency is still missing enters `x` (so it counts as satisfied, for
  the released score and for items depending on it) but earns `r = 0` at that step, and can never earn
  later: from then on it is in `x`, so it is never eligible again. This is how the checklist punishes,
  say, an answer given before the evidence was fetched.
- The backfilled reward `r~[s, c]` is 1 when `c` is eligible at `s` and becomes satisfied at `s` or at
  a later step of the turn (once eligible, an item stays eligible until it flips, so that later
  satisfaction is always a flip).

With a decay `eta < 1` a flip earns `eta**d` instead of 1, where `d` is the number of steps the item was
eligible before the step that flipped it (the released code's reading: steps since its last dependency
was satisfied, or since the start of the turn for an item without dependencies, i.e. `eta**s`).
`r~[s, c]` then carries that same flip value at every eligible step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cm2.reward.config import UnknownPolicy
from cm2.reward.spec import TurnSpec

VerdictRows = Sequence[Sequence[bool | None]]
"""Raw judge verdicts of one turn, shape (S, C): row `s` = assistant step, column `c` = item; None = unknown."""


@dataclass(frozen=True, eq=False)
class TurnFlips:
    """Everything the reward levels need about one turn of one rollout under one checklist."""

    spec: TurnSpec
    rewards: np.ndarray
    """(S, C) float: flip rewards r[s, c] (1, or eta**d with a decay; 0 where no flip)."""
    states: np.ndarray
    """(S + 1, C) bool: satisfied states x_0 .. x_S."""
    eligible: np.ndarray
    """(S, C) bool: item eligible at step s (dependencies in x_s, item not in x_s)."""
    unknown: bool
    """Some verdict was None on an item not yet satisfied (a None on a satisfied item does not matter)."""

    @property
    def num_steps(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def value(self) -> np.ndarray:
        """(C,) float: what each item earned this turn (0 or its flip reward)."""
        return self.rewards.sum(axis=0)

    @property
    def flipped(self) -> np.ndarray:
        """(C,) bool: the item flipped at some step of the turn."""
        return np.asarray((self.rewards > 0).any(axis=0))

    @property
    def reached(self) -> np.ndarray:
        """(C,) bool: the item was eligible at some step of the turn."""
        return np.asarray(self.eligible.any(axis=0))

    @property
    def satisfied(self) -> np.ndarray:
        """(C,) bool: the item is satisfied at the end of the turn (judged true at some step)."""
        return self.states[-1]


def _verdict_array(spec: TurnSpec, verdicts: VerdictRows) -> tuple[np.ndarray, np.ndarray]:
    """(true, unknown) bool arrays of shape (S, C) from raw rows; errors name the step."""
    num_items = spec.num_items
    true = np.zeros((len(verdicts), num_items), dtype=bool)
    unknown = np.zeros_like(true)
    for s, row in enumerate(verdicts):
        if isinstance(row, str | bytes) or not hasattr(row, "__len__"):
            raise ValueError(f"step {s}: expected a row of verdicts (one per item), got {row!r}")
        if len(row) != num_items:
            raise ValueError(f"step {s}: {len(row)} verdicts, expected one per item ({', '.join(spec.ids)})")
        for c, verdict in enumerate(row):
            if verdict is None:
                unknown[s, c] = True
            elif isinstance(verdict, bool | np.bool_):
                true[s, c] = bool(verdict)
            else:
                raise ValueError(f"step {s}, item {spec.ids[c]!r}: verdict {verdict!r} is not True, False or None")
    return true, unknown


def flip_rewards(spec: TurnSpec, verdicts: VerdictRows, *, eta: float = 1.0) -> TurnFlips:
    """Flip rewards r[s, c], satisfied states x_s and eligibility for one turn.

    A None verdict counts as "not satisfied"; `TurnFlips.unknown` records whether one mattered so a
    caller can apply the `unknown="drop"` policy.
    """
    if not 0.0 < eta <= 1.0:
        raise ValueError(f"eta must be in (0, 1], got {eta}")
    true, unknown = _verdict_array(spec, verdicts)
    num_steps, num_items = true.shape
    depends = spec.dependency_matrix
    states = np.zeros((num_steps + 1, num_items), dtype=bool)
    eligible = np.zeros((num_steps, num_items), dtype=bool)
    rewards = np.zeros((num_steps, num_items), dtype=float)
    waited = np.zeros(num_items, dtype=int)  # steps each item has been eligible so far
    mattered = False
    x = states[0].copy()
    for s in range(num_steps):
        deps_met = ~(depends & ~x[None, :]).any(axis=1)
        eligible[s] = deps_met & ~x
        mattered = mattered or bool((unknown[s] & ~x).any())
        flips = eligible[s] & true[s]
        rewards[s, flips] = eta ** waited[flips]
        waited[eligible[s]] += 1
        x = x | true[s]
        states[s + 1] = x
    return TurnFlips(spec=spec, rewards=rewards, states=states, eligible=eligible, unknown=mattered)


def backfilled_rewards(flips: TurnFlips) -> np.ndarray:
    """r~[s, c] (S, C): the item's flip value at every step where it is eligible, 0 elsewhere."""
    return np.where(flips.eligible, flips.value[None, :], 0.0)


def unknown_invalidates(flips: Sequence[TurnFlips], policy: UnknownPolicy) -> bool:
    """Whether a rollout with these turns is invalid under the unknown-verdict policy."""
    return policy == "drop" and any(turn.unknown for turn in flips)
