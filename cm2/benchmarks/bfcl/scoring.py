"""The four held-out numbers of a BFCL dialogue rollout, and their means with 95% confidence intervals.

Per dialogue (every reference turn counts; a turn the rollout never reached is wrong):
- exact calls: turns whose tool calls are the reference's (`cm2.benchmarks.bfcl.metrics`);
- state match: turns after which the backends hold the ground truth's state (`cm2.benchmarks.bfcl.state_match`);
- BFCL checker: whether `bfcl_eval`'s multi-turn checker passes the whole dialogue;
- checklist score: weight earned / weight the checklist offers (a perfect rollout earns all of it);
- and, as monitors, the calls made and the stray ones among them (no reference call of that turn is the same).

Over dialogues: exact calls and state match are shares of all reference turns, with a bootstrap over
dialogues; the BFCL checker is a share of dialogues with Wilson's interval; the checklist score is the mean
over dialogues (those whose checklist offers any weight) with a bootstrap over dialogues.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass

from cm2.benchmarks.bfcl.environment import bfcl_entry_id
from cm2.benchmarks.bfcl.metrics import bfcl_verdict, call_counts, exact_turns
from cm2.benchmarks.bfcl.state_match import turn_state_matches
from cm2.eval.deterministic import earnable_weight
from cm2.eval.intervals import Interval, bootstrap_interval, wilson_interval
from cm2.reward import RewardConfig
from cm2.schema import Dialogue, Trajectory
from cm2.scoring import score_trajectory

METRICS = ("exact_calls", "state_match", "bfcl_checker", "checklist_score")


@dataclass(frozen=True)
class DialogueScore:
    """What one rollout of one held-out dialogue scored."""

    uuid: str
    turns: int
    exact_turns: int
    state_turns: int
    bfcl_valid: bool
    checklist_earned: float
    checklist_earnable: float
    bfcl_error: str | None = None
    calls: int = 0
    stray_calls: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


async def score_dialogue(reference: Dialogue, trajectory: Trajectory, entry_id: str, max_turns: int) -> DialogueScore:
    """Score one rollout on the reference's first `max_turns` turns (all of them when it has no more)."""
    exact, counted = exact_turns(reference, trajectory, max_turns)
    states = await turn_state_matches(entry_id, trajectory, counted)
    valid, error = bfcl_verdict(entry_id, trajectory, counted)
    checklist = reference.checklists[trajectory.checklist]
    # Weight earned: the paper's flip rewards, whatever the trained run's reward settings were.
    earned = sum(score_trajectory(reference, trajectory, RewardConfig()).turn_rewards("paper")[: len(checklist)])
    calls, stray = call_counts(reference, trajectory, max_turns)
    return DialogueScore(
        uuid=reference.uuid,
        turns=counted,
        exact_turns=exact,
        state_turns=sum(states),
        bfcl_valid=valid,
        checklist_earned=earned,
        checklist_earnable=earnable_weight(checklist[:counted]),
        bfcl_error=error,
        calls=calls,
        stray_calls=stray,
    )


def score_rollouts(dialogues: list[Dialogue], trajectories: list[Trajectory], max_turns: int) -> list[DialogueScore]:
    """`score_dialogue` for each rollout (its `dialogue_uuid` names its dialogue among `dialogues`), in order."""
    by_uuid = {d.uuid: d for d in dialogues}

    async def score_all() -> list[DialogueScore]:
        return [
            await score_dialogue(by_uuid[t.dialogue_uuid], t, bfcl_entry_id(by_uuid[t.dialogue_uuid]), max_turns)
            for t in trajectories
        ]

    return asyncio.run(score_all())


def state_and_calls(state_match: float, exact_calls: float) -> float:
    """The one number cm2 ranks models by on BFCL validation dialogues (SFT checkpoints, RL steps): the mean of
    state match and exact calls per turn, the two numbers the held-out result is judged on."""
    return (state_match + exact_calls) / 2


def heldout_intervals(scores: list[DialogueScore], *, seed: int = 0) -> dict[str, Interval]:
    """Each of `METRICS` with its 95% interval over the scored dialogues."""
    offered = [s for s in scores if s.checklist_earnable > 0]
    return {
        "exact_calls": bootstrap_interval([s.exact_turns for s in scores], [s.turns for s in scores], seed=seed),
        "state_match": bootstrap_interval([s.state_turns for s in scores], [s.turns for s in scores], seed=seed),
        "bfcl_checker": wilson_interval(sum(s.bfcl_valid for s in scores), len(scores)),
        "checklist_score": bootstrap_interval(
            [min(1.0, s.checklist_earned / s.checklist_earnable) for s in offered], [1.0] * len(offered), seed=seed
        ),
    }
