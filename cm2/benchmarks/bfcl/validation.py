"""BFCL's outcome numbers as a validation metric (`probe.metric: bfcl`, registered in pyproject.toml's
`cm2.validation_metrics` entry points): state match and exact calls per turn of the probe's whole dialogues."""

from __future__ import annotations

from cm2.benchmarks.bfcl.scoring import score_rollouts, state_and_calls
from cm2.schema import Dialogue, Trajectory
from cm2.train.validation import ValidationScore


def bfcl_validation(dialogues: list[Dialogue], trajectories: list[Trajectory]) -> ValidationScore:
    """Shares of all reference turns (every turn played, as the held-out evaluation plays them), ranked by
    `state_and_calls`."""
    scores = score_rollouts(dialogues, trajectories, max(len(d.turns()) for d in dialogues))
    turns = max(1, sum(s.turns for s in scores))
    state = sum(s.state_turns for s in scores) / turns
    exact = sum(s.exact_turns for s in scores) / turns
    return ValidationScore({"state_match": state, "exact_calls": exact}, state_and_calls(state, exact))
