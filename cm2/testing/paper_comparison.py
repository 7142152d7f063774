"""cm2's group statistics and the paper's equations side by side, on the same random cases: what the
equivalence test and `benchmarks/reward_paper_statistics.py` compare."""

from __future__ import annotations

from typing import Any

from cm2.reward import RewardConfig, ScoredRollout, TurnSpec, compute_group, score_rollout
from cm2.testing.paper_equations import Item, Rows, step_advantages, trajectory_advantages, turn_advantages

EPS = 1e-6


def as_specs(checklist: list[list[Item]]) -> list[TurnSpec]:
    specs = []
    for items in checklist:
        ids = tuple(f"c{c}" for c in range(len(items)))
        specs.append(
            TurnSpec(
                ids=ids,
                weights=tuple(item.weight for item in items),
                dependencies=tuple(tuple(ids[d] for d in item.depends_on) for item in items),
            )
        )
    return specs


def scored(checklist: list[list[Item]], group: list[list[Rows]]) -> list[ScoredRollout]:
    specs = as_specs(checklist)
    return [score_rollout([specs], [turns]) for turns in group]


def cm2_advantages(rollouts: list[ScoredRollout], level: str, **config: Any) -> list[Any]:
    cfg = RewardConfig(level=level, eps=EPS, **config)
    scores = compute_group(rollouts, cfg)
    if level == "trajectory":
        assert scores.trajectory is not None
        return [float(a) for a in scores.trajectory]
    if level == "turn":
        return [[float(steps[0]) if len(steps) else None for steps in turns] for turns in scores.advantages]
    return [[[float(a) for a in steps] for steps in turns] for turns in scores.advantages]


def paper_advantages(checklist: list[list[Item]], group: list[list[Rows]], level: str, scale: str) -> list[Any]:
    if level == "trajectory":
        return trajectory_advantages(checklist, group, scale, EPS)
    if level == "turn":
        # a turn with no steps has no tokens to carry its advantage: cm2 stores an empty array there
        per_turn = turn_advantages(checklist, group, scale, EPS)
        return [
            [a if turns[t] else None for t, a in enumerate(adv)] for adv, turns in zip(per_turn, group, strict=True)
        ]
    return step_advantages(checklist, group, scale, EPS)


def agree(mine: Any, theirs: Any) -> bool:
    if isinstance(mine, list):
        return len(mine) == len(theirs) and all(agree(a, b) for a, b in zip(mine, theirs, strict=True))
    if mine is None or theirs is None:
        return mine is None and theirs is None
    return abs(mine - theirs) < 1e-7
