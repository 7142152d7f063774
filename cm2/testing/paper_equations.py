"""The paper's reward equations (DESIGN.md §1, Eqs. 7-9) written out plainly with loops and sets.

Independent of `cm2.reward`'s array code: used by the tests and by `benchmarks/reward_paper_statistics.py`
to check that the library computes exactly these numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Rows = list[list[bool]]
"""One turn's verdicts: rows = assistant steps, columns = items."""


@dataclass(frozen=True)
class Item:
    weight: float
    depends_on: tuple[int, ...]


def flips(items: Sequence[Item], rows: Rows) -> tuple[list[list[int]], list[list[bool]]]:
    """r[s][c] (0/1) and eligible[s][c] of one turn, by the definition: c flips at s when its dependencies are in
    x_s, c is not, and the judge says c holds at s."""
    satisfied: set[int] = set()
    r = [[0] * len(items) for _ in rows]
    eligible = [[False] * len(items) for _ in rows]
    for s, row in enumerate(rows):
        judged = {c for c, verdict in enumerate(row) if verdict}
        for c, item in enumerate(items):
            if c not in satisfied and all(d in satisfied for d in item.depends_on):
                eligible[s][c] = True
                r[s][c] = int(c in judged)
        satisfied |= judged
    return r, eligible


def turn_value(items: Sequence[Item], rows: Rows) -> float:
    """R_t = Σ_s Σ_c w_c r[s][c]."""
    r, _ = flips(items, rows)
    return sum(items[c].weight * r[s][c] for s in range(len(rows)) for c in range(len(items)))


def _spread(values: list[float], scale: str, eps: float) -> float:
    if scale == "one" or len(values) < 2:
        return 1.0
    return statistics.stdev(values) + eps


def trajectory_advantages(
    checklist: Sequence[Sequence[Item]], group: Sequence[list[Rows]], scale: str, eps: float
) -> list[float]:
    """Eq. 7: R_i = (1/L) Σ_t R_t, A_i = (R_i - mean_j R_j) / F."""
    rewards = [sum(turn_value(checklist[t], rows) for t, rows in enumerate(turns)) / len(checklist) for turns in group]
    if len(rewards) < 2:
        return [0.0] * len(rewards)
    mean = sum(rewards) / len(rewards)
    return [(r - mean) / _spread(rewards, scale, eps) for r in rewards]


def turn_advantages(
    checklist: Sequence[Sequence[Item]], group: Sequence[list[Rows]], scale: str, eps: float
) -> list[list[float]]:
    """Eq. 8: per turn t, over all G rollouts (R_t = 0 for a rollout that never reached t)."""
    out: list[list[float]] = [[] for _ in group]
    for t, items in enumerate(checklist):
        values = [turn_value(items, turns[t]) if len(turns) > t else 0.0 for turns in group]
        mean = sum(values) / len(values)
        spread = _spread(values, scale, eps)
        for i, turns in enumerate(group):
            if len(turns) > t:
                out[i].append((values[i] - mean) / spread if len(group) > 1 else 0.0)
    return out


def _flipped(items: Sequence[Item], rows: Rows) -> list[float]:
    r, _ = flips(items, rows)
    return [float(any(r[s][c] for s in range(len(rows)))) for c in range(len(items))]


def step_advantages(
    checklist: Sequence[Sequence[Item]], group: Sequence[list[Rows]], scale: str, eps: float
) -> list[list[list[float]]]:
    """Eq. 9: b[t, c] = share of all G rollouts that flip c in turn t; the step's advantage is the
    weight-averaged (r~ - b) / F over the items eligible at that step."""
    out: list[list[list[float]]] = [[] for _ in group]
    for t, items in enumerate(checklist):
        flipped = [_flipped(items, turns[t]) if len(turns) > t else [0.0] * len(items) for turns in group]
        baseline = [sum(f[c] for f in flipped) / len(group) for c in range(len(items))]
        spread = [_spread([f[c] for f in flipped], scale, eps) for c in range(len(items))]
        for i, turns in enumerate(group):
            if len(turns) <= t:
                continue
            _, eligible = flips(items, turns[t])
            steps = []
            for s in range(len(turns[t])):
                weight = sum(items[c].weight for c in range(len(items)) if eligible[s][c])
                total = sum(
                    items[c].weight * (flipped[i][c] - baseline[c]) / (spread[c] or 1.0)
                    for c in range(len(items))
                    if eligible[s][c]  # r~ at an eligible step is whether the item flips later in the turn
                )
                steps.append(total / weight if weight > 0 else 0.0)
            out[i].append(steps)
    return out


def random_case(rng: np.random.Generator) -> tuple[list[list[Item]], list[list[Rows]]]:
    """A checklist of 1-3 turns (1-4 items, random weights summing to 1, acyclic dependencies) and a group of
    2-6 rollouts that reach a random number of turns (uneven reach) with 0-4 steps a turn."""
    checklist: list[list[Item]] = []
    for _ in range(int(rng.integers(1, 4))):
        n = int(rng.integers(1, 5))
        raw = rng.random(n) + 0.05
        weights = raw / raw.sum()
        items = [Item(float(weights[c]), tuple(int(d) for d in range(c) if rng.random() < 0.35)) for c in range(n)]
        checklist.append(items)
    group: list[list[Rows]] = []
    for _ in range(int(rng.integers(2, 7))):
        reached = int(rng.integers(0, len(checklist) + 1))
        turns = [
            [[bool(rng.random() < 0.45) for _ in checklist[t]] for _ in range(int(rng.integers(0, 5)))]
            for t in range(reached)
        ]
        group.append(turns)
    return checklist, group
