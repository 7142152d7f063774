"""One call for a whole GRPO group: rewards, turn rewards and advantages at the configured level."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cm2.reward.advantages import trajectory_advantages, turn_advantages
from cm2.reward.config import RewardConfig
from cm2.reward.flips import VerdictRows
from cm2.reward.levels import ScoredRollout, score_rollout
from cm2.reward.placement import MaskLike, SpanLike, place_steps, place_trajectory, place_turn_rewards
from cm2.reward.spec import TurnSpec
from cm2.reward.step import step_advantages


@dataclass(frozen=True, eq=False)
class GroupScores:
    """Rewards and advantages of the rollouts of one group (same dialogue), in group order."""

    config: RewardConfig
    rewards: np.ndarray
    """(G,) trajectory reward R of each rollout (computed for dropped rollouts too)."""
    turn_rewards: list[list[float]]
    """Per rollout, R_t of each reached turn (mean over checklists)."""
    reward_by_turn: list[list[float]]
    """Per rollout, each turn's share of R (R_t / L, mean over checklists); sums to R."""
    valid: np.ndarray
    """(G,) bool: False for rollouts dropped by the unknown-verdict policy (they get 0 advantage)."""
    trajectory: np.ndarray | None
    """(G,) rollout advantages at trajectory level, else None."""
    advantages: list[list[np.ndarray]]
    """Per rollout, per reached turn, the advantage of each step at the configured level."""
    rollouts: tuple[ScoredRollout, ...]
    """The scored rollouts these numbers come from, in group order."""

    def token_advantages(self, rollout: int, spans: Sequence[SpanLike], mask: MaskLike) -> np.ndarray:
        """Per-token advantages of one rollout (0 outside assistant spans and on masked tokens)."""
        if self.trajectory is not None:
            return place_trajectory(float(self.trajectory[rollout]), spans, mask)
        return place_steps(self.advantages[rollout], spans, mask)

    def token_rewards(self, rollout: int, spans: Sequence[SpanLike], mask: MaskLike) -> np.ndarray:
        """Per-token rewards of one rollout: each turn's share of R on its last trained token."""
        return place_turn_rewards(self.reward_by_turn[rollout], spans, mask)


def score_rollouts(
    checklists: Sequence[Sequence[TurnSpec]],
    verdicts: Sequence[Sequence[Sequence[VerdictRows]]],
    config: RewardConfig,
) -> list[ScoredRollout]:
    """Score every rollout of a group: `verdicts[i][k][t]` = rows of rollout i, checklist k, turn t."""
    scored = []
    for i, rows in enumerate(verdicts):
        try:
            scored.append(score_rollout(checklists, rows, eta=config.eta, unknown=config.unknown))
        except ValueError as error:
            raise ValueError(f"rollout {i}, {error}") from error
    return scored


def compute_group(group: Sequence[ScoredRollout], config: RewardConfig) -> GroupScores:
    """Rewards and advantages of a group of scored rollouts."""
    mode = config.mode
    rewards = np.asarray([rollout.reward(mode) for rollout in group], dtype=float)
    turn_rewards = [rollout.turn_rewards(mode) for rollout in group]
    valid = np.asarray([rollout.valid for rollout in group], dtype=bool)
    steps = [rollout.steps_per_turn for rollout in group]
    trajectory = None
    if config.level == "trajectory":
        trajectory = trajectory_advantages(rewards, valid, scale=config.scale, eps=config.eps)
        advantages = [[np.full(s, a) for s in per_turn] for a, per_turn in zip(trajectory, steps, strict=True)]
    elif config.level == "turn":
        per_turn_adv = turn_advantages(
            turn_rewards, valid, scale=config.scale, eps=config.eps, baseline=config.turn_baseline
        )
        advantages = [
            [np.full(s, a) for s, a in zip(per_turn, adv, strict=True)]
            for per_turn, adv in zip(steps, per_turn_adv, strict=True)
        ]
    else:
        advantages = step_advantages(
            group,
            scale=config.scale,
            eps=config.eps,
            min_reach=config.min_reach,
            baseline=config.turn_baseline,
        )
    return GroupScores(
        config=config,
        rewards=rewards,
        turn_rewards=turn_rewards,
        reward_by_turn=[rollout.reward_by_turn(mode) for rollout in group],
        valid=valid,
        trajectory=trajectory,
        advantages=advantages,
        rollouts=tuple(group),
    )
