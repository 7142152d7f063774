"""Placing advantages and rewards on completion tokens.

Inputs: the token span `[start, end)` of every assistant step inside the completion, as
`cm2.schema.StepSpan` records or `(turn, step, start, end)` tuples, and the loss mask over the
completion (nonzero = the token is trained on). Tokens outside every span, or masked out, get 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np

from cm2.schema import StepSpan

SpanLike = StepSpan | tuple[int, int, int, int]
MaskLike = Sequence[int] | Sequence[bool] | np.ndarray


def _spans(spans: Sequence[SpanLike], length: int) -> list[tuple[int, int, int, int]]:
    """Spans as (turn, step, start, end) tuples sorted by start; errors name the span."""
    out = []
    for span in spans:
        turn, step, start, end = (span.turn, span.step, span.start, span.end) if isinstance(span, StepSpan) else span
        if turn < 0 or step < 0:
            raise ValueError(f"span of turn {turn} step {step}: negative turn or step")
        if not 0 <= start <= end <= length:
            raise ValueError(f"span of turn {turn} step {step}: [{start}, {end}) is outside the {length} tokens")
        out.append((turn, step, start, end))
    out.sort(key=lambda span: span[2])
    for before, after in pairwise(out):
        if after[2] < before[3]:
            raise ValueError(f"spans of turn {before[0]} step {before[1]} and turn {after[0]} step {after[1]} overlap")
    return out


def _place(spans: Sequence[SpanLike], mask: MaskLike, value_of: Callable[[int, int], float]) -> np.ndarray:
    keep = np.asarray(mask).reshape(-1).astype(bool)
    out = np.zeros(keep.size, dtype=float)
    for turn, step, start, end in _spans(spans, keep.size):
        out[start:end] = value_of(turn, step)
    return np.where(keep, out, 0.0)


def place_trajectory(advantage: float, spans: Sequence[SpanLike], mask: MaskLike) -> np.ndarray:
    """Trajectory level: the rollout's advantage on every assistant token."""
    return _place(spans, mask, lambda turn, step: advantage)


def place_turns(advantages: Sequence[float], spans: Sequence[SpanLike], mask: MaskLike) -> np.ndarray:
    """Turn level: `advantages[t]` on the assistant tokens of turn t."""

    def value_of(turn: int, step: int) -> float:
        if turn >= len(advantages):
            raise ValueError(f"span of turn {turn} step {step}: advantages given for {len(advantages)} turns")
        return float(advantages[turn])

    return _place(spans, mask, value_of)


def place_steps(
    advantages: Sequence[Sequence[float] | np.ndarray], spans: Sequence[SpanLike], mask: MaskLike
) -> np.ndarray:
    """Step level: `advantages[t][s]` on the tokens of step s of turn t."""

    def value_of(turn: int, step: int) -> float:
        if turn >= len(advantages) or step >= len(advantages[turn]):
            raise ValueError(f"span of turn {turn} step {step}: no step advantage for it")
        return float(advantages[turn][step])

    return _place(spans, mask, value_of)


def place_turn_rewards(rewards: Sequence[float], spans: Sequence[SpanLike], mask: MaskLike) -> np.ndarray:
    """`rewards[t]` on the last trained token of turn t's assistant spans; 0 elsewhere.

    For engines that take token-level rewards (VeRL). Pass `ScoredRollout.reward_by_turn()` to make the
    token rewards sum to the trajectory reward. A turn with a reward but no trained token is an error.
    """
    keep = np.asarray(mask).reshape(-1).astype(bool)
    last: dict[int, int] = {}
    for turn, _, start, end in _spans(spans, keep.size):
        trained = np.flatnonzero(keep[start:end])
        if trained.size:
            last[turn] = max(last.get(turn, -1), start + int(trained[-1]))
    out = np.zeros(keep.size, dtype=float)
    for turn, reward in enumerate(rewards):
        if turn not in last:
            raise ValueError(f"turn {turn}: reward {reward} but no trained assistant token to put it on")
        out[last[turn]] = reward
    return out
