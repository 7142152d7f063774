"""95% confidence intervals for held-out scores (pure; no I/O).

- `wilson_interval`: the Wilson score interval of a proportion of independent yes/no outcomes (one per
  dialogue, e.g. a benchmark's own checker). Unlike the normal approximation it stays inside [0, 1] and is not empty
  at 0% or 100% (0 of 40 gives [0%, 8.8%]).
- `bootstrap_interval`: a percentile bootstrap over dialogues (clusters) of a ratio of sums, for scores
  counted per turn (exact calls, state match) or per dialogue (checklist score). Turns of one dialogue are
  not independent, so whole dialogues are resampled; the estimate is Σ numerators / Σ denominators.
  When every dialogue scores the same the interval has zero width (the bootstrap cannot see beyond the
  sample), which is why yes/no scores per dialogue get Wilson's; over a single dialogue it is [0, 1].
- `paired_difference_interval`: the same bootstrap for model A minus model B on the same dialogues, each
  resample drawing the same dialogues for both, so what the two share (a dialogue's difficulty) cancels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["wilson", "bootstrap", "paired_bootstrap"]
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval, all in [0, 1] ([-1, 1] for a paired difference), and how the
    interval was made."""

    value: float
    low: float
    high: float
    method: Method
    n: int
    """Units the interval is over: dialogues."""

    def as_dict(self) -> dict[str, float | int | str]:
        return {"value": self.value, "low": self.low, "high": self.high, "method": self.method, "n": self.n}


def wilson_interval(successes: int, n: int, z: float = Z_95) -> Interval:
    """Wilson score interval of `successes` out of `n` independent trials."""
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return Interval(0.0, 0.0, 1.0, "wilson", 0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), "wilson", n)


def _check(num: np.ndarray, den: np.ndarray, level: float, resamples: int) -> None:
    if (den < 0).any() or (num < 0).any() or (num > den).any():
        raise ValueError("need 0 <= numerator <= denominator for every cluster")
    if not 0 < level < 1 or resamples < 1:
        raise ValueError(f"need 0 < level < 1 and resamples >= 1, got {level}, {resamples}")


def bootstrap_interval(
    numerators: Sequence[float],
    denominators: Sequence[float],
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap of Σ numerators / Σ denominators, resampling clusters (dialogues) with replacement.

    Cluster i contributes `numerators[i]` out of `denominators[i]` (turns matched out of turns, or a
    dialogue's score out of 1). Deterministic for a given `seed`.
    """
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    if num.shape != den.shape or num.ndim != 1:
        raise ValueError(f"need two equally long lists, got {num.shape} and {den.shape}")
    _check(num, den, level, resamples)
    n = len(num)
    if n == 0 or den.sum() == 0:
        return Interval(0.0, 0.0, 1.0, "bootstrap", n)
    value = float(num.sum() / den.sum())
    if n == 1:  # one dialogue says nothing about the spread between dialogues
        return Interval(value, 0.0, 1.0, "bootstrap", n)
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    return _percentile(_ratios(num, den, picks, value), value, level, "bootstrap", n)


def _ratios(num: np.ndarray, den: np.ndarray, picks: np.ndarray, empty: float) -> np.ndarray:
    """Σ num / Σ den over each resample's picked clusters (`empty` where the picks have no denominator)."""
    totals = den[picks].sum(axis=1)
    return np.divide(num[picks].sum(axis=1), totals, out=np.full(len(picks), empty), where=totals > 0)


def _percentile(samples: np.ndarray, value: float, level: float, method: Method, n: int) -> Interval:
    tail = (1 - level) / 2
    low, high = np.quantile(samples, [tail, 1 - tail])
    return Interval(value, float(min(low, value)), float(max(high, value)), method, n)


def paired_difference_interval(
    numerators_a: Sequence[float],
    denominators_a: Sequence[float],
    numerators_b: Sequence[float],
    denominators_b: Sequence[float],
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap of Σa/Σa_den − Σb/Σb_den, where position i of every list is the same dialogue
    (cluster) scored for models A and B; each resample picks the same dialogues for both."""
    arrays = [np.asarray(v, dtype=float) for v in (numerators_a, denominators_a, numerators_b, denominators_b)]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
        raise ValueError(f"need four equally long lists, got {[a.shape for a in arrays]}")
    num_a, den_a, num_b, den_b = arrays
    _check(num_a, den_a, level, resamples)
    _check(num_b, den_b, level, resamples)
    n = len(num_a)
    if n == 0 or den_a.sum() == 0 or den_b.sum() == 0:
        return Interval(0.0, -1.0, 1.0, "paired_bootstrap", n)
    value = float(num_a.sum() / den_a.sum() - num_b.sum() / den_b.sum())
    if n == 1:
        return Interval(value, -1.0, 1.0, "paired_bootstrap", n)
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    a, b = num_a.sum() / den_a.sum(), num_b.sum() / den_b.sum()
    differences = _ratios(num_a, den_a, picks, a) - _ratios(num_b, den_b, picks, b)
    return _percentile(differences, value, level, "paired_bootstrap", n)
