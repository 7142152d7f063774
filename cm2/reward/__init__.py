"""Checklist rewards and advantages: pure functions from verdict matrices to numbers and token arrays.

Typical use for one GRPO group (all rollouts of one dialogue)::

    specs = [checklist_specs(checklist) for checklist in dialogue.checklists]
    group = score_rollouts(specs, verdicts, config)   # verdicts[i][k][t] = (S, C) rows
    scores = compute_group(group, config)
    scores.token_advantages(i, spans, loss_mask)
"""

from cm2.reward.advantages import group_advantages, trajectory_advantages, turn_advantages
from cm2.reward.config import Level, Mode, RewardConfig, Scale, TurnBaseline, UnknownPolicy
from cm2.reward.flips import TurnFlips, VerdictRows, backfilled_rewards, flip_rewards
from cm2.reward.group import GroupScores, compute_group, score_rollouts
from cm2.reward.levels import (
    ScoredRollout,
    average_checklists,
    score_rollout,
    trajectory_reward,
    turn_reward,
    turn_rewards,
)
from cm2.reward.placement import place_steps, place_trajectory, place_turn_rewards, place_turns
from cm2.reward.spec import TurnSpec, checklist_specs
from cm2.reward.step import ItemStats, item_stats, step_advantages
from cm2.reward.verdicts import verdict_rows

__all__ = [
    "GroupScores",
    "ItemStats",
    "Level",
    "Mode",
    "RewardConfig",
    "Scale",
    "ScoredRollout",
    "TurnBaseline",
    "TurnFlips",
    "TurnSpec",
    "UnknownPolicy",
    "VerdictRows",
    "average_checklists",
    "backfilled_rewards",
    "checklist_specs",
    "compute_group",
    "flip_rewards",
    "group_advantages",
    "item_stats",
    "place_steps",
    "place_trajectory",
    "place_turn_rewards",
    "place_turns",
    "score_rollout",
    "score_rollouts",
    "step_advantages",
    "trajectory_advantages",
    "trajectory_reward",
    "turn_advantages",
    "turn_reward",
    "turn_rewards",
    "verdict_rows",
]
