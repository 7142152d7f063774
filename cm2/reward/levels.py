"""Turn and trajectory rewards of one rollout, under one or several checklists.

- paper mode: `R_t = Σ_s Σ_c w[c]·r[s, c]` (dependency-gated flips);
- released mode: `R_t = Σ_c w[c]·[c satisfied at some step of the turn]` (no gating; each item once);
- trajectory: `R = (1/L) Σ_t R_t`, `L` = turns of the *reference* checklist, so a rollout that stopped
  early forfeits the turns it never reached;
- several checklists per dialogue: each checklist gives its own score and the scores are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cm2.reward.config import Mode, UnknownPolicy
from cm2.reward.flips import TurnFlips, VerdictRows, flip_rewards, unknown_invalidates
from cm2.reward.spec import TurnSpec


def turn_reward(turn: TurnFlips, mode: Mode = "paper") -> float:
    """R_t of one turn."""
    if mode == "released":
        return float(turn.spec.weight_array @ turn.satisfied)
    return float(turn.spec.weight_array @ turn.value)


def turn_rewards(turns: Sequence[TurnFlips], mode: Mode = "paper") -> list[float]:
    """R_t for every reached turn, in order."""
    return [turn_reward(turn, mode) for turn in turns]


def trajectory_reward(turns: Sequence[TurnFlips], num_reference_turns: int, mode: Mode = "paper") -> float:
    """R = (1/L) Σ_t R_t over the reached turns, L = number of reference-checklist turns."""
    if num_reference_turns < 1:
        raise ValueError(f"the reference checklist needs at least one turn, got {num_reference_turns}")
    if len(turns) > num_reference_turns:
        raise ValueError(f"{len(turns)} turns scored but the reference checklist has {num_reference_turns}")
    return sum(turn_rewards(turns, mode)) / num_reference_turns


def average_checklists(scores: Sequence[float]) -> float:
    """Mean of one score per checklist of a dialogue."""
    if not scores:
        raise ValueError("no checklist scores to average")
    return float(np.mean(scores))


@dataclass(frozen=True, eq=False)
class ScoredRollout:
    """One rollout scored against every checklist of its dialogue."""

    checklists: tuple[tuple[TurnFlips, ...], ...]
    """[k][t]: flips of reached turn t under checklist k (every checklist has the same reached turns)."""
    num_reference_turns: tuple[int, ...]
    """Per checklist, L = number of turns of the reference checklist."""
    valid: bool = True
    """False when the unknown-verdict policy dropped the rollout."""

    @property
    def num_turns(self) -> int:
        """Turns the rollout reached (and was judged on)."""
        return len(self.checklists[0])

    @property
    def steps_per_turn(self) -> list[int]:
        return [turn.num_steps for turn in self.checklists[0]]

    def turn_rewards(self, mode: Mode = "paper") -> list[float]:
        """R_t per reached turn, averaged over checklists (the turn-level reward)."""
        per_checklist = [turn_rewards(turns, mode) for turns in self.checklists]
        return [float(v) for v in np.mean(np.asarray(per_checklist, dtype=float), axis=0)] if self.num_turns else []

    def reward_by_turn(self, mode: Mode = "paper") -> list[float]:
        """Each turn's share of the trajectory reward, mean over k of R_t^k / L_k; these sum to `reward()`."""
        per_checklist = [
            np.asarray(turn_rewards(turns, mode), dtype=float) / length
            for turns, length in zip(self.checklists, self.num_reference_turns, strict=True)
        ]
        return [float(v) for v in np.mean(per_checklist, axis=0)] if self.num_turns else []

    def reward(self, mode: Mode = "paper") -> float:
        """The trajectory reward R, averaged over checklists."""
        return average_checklists(
            [
                trajectory_reward(turns, length, mode)
                for turns, length in zip(self.checklists, self.num_reference_turns, strict=True)
            ]
        )


def score_rollout(
    checklists: Sequence[Sequence[TurnSpec]],
    verdicts: Sequence[Sequence[VerdictRows]],
    *,
    eta: float = 1.0,
    unknown: UnknownPolicy = "false",
) -> ScoredRollout:
    """Score one rollout: `verdicts[k][t]` are the (S_t, C) verdict rows of reached turn t under checklist k.

    The number of reached turns and each turn's number of steps must agree across checklists
    (they are properties of the rollout). Errors name the checklist, turn and step.
    """
    if not checklists:
        raise ValueError("a rollout needs at least one checklist")
    if len(verdicts) != len(checklists):
        raise ValueError(f"verdicts for {len(verdicts)} checklists, but the dialogue has {len(checklists)}")
    reached = len(verdicts[0])
    scored: list[tuple[TurnFlips, ...]] = []
    for k, (specs, rows) in enumerate(zip(checklists, verdicts, strict=True)):
        if len(rows) != reached:
            raise ValueError(f"checklist {k}: verdicts for {len(rows)} turns, checklist 0 has {reached}")
        if reached > len(specs):
            raise ValueError(f"checklist {k}: verdicts for {reached} turns, but the checklist has {len(specs)}")
        turns = []
        for t, (spec, turn_rows) in enumerate(zip(specs, rows, strict=False)):
            try:
                turns.append(flip_rewards(spec, turn_rows, eta=eta))
            except ValueError as error:
                raise ValueError(f"checklist {k}, turn {t}: {error}") from error
            if k and turns[-1].num_steps != scored[0][t].num_steps:
                raise ValueError(
                    f"checklist {k}, turn {t}: {turns[-1].num_steps} steps, checklist 0 has {scored[0][t].num_steps}"
                )
        scored.append(tuple(turns))
    return ScoredRollout(
        checklists=tuple(scored),
        num_reference_turns=tuple(len(specs) for specs in checklists),
        valid=not any(unknown_invalidates(turns, unknown) for turns in scored),
    )
