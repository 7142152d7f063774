"""BFCL backend state after each turn: the ground truth, and whether an episode's state matches it.

The ground-truth state after turn t is what BFCL's own checker compares a model against: the entry's initial
backends with every ground-truth call of turns 0..t executed in order. Here the calls are read by cm2's safe
parser (`BfclEnvironment.parse_call`, Python literals only, nothing evaluated) and executed on the same real
backends; the comparison is BFCL's `state_checker` (public attributes of every involved class, compared with
`==`), applied class by class so the reason can name what differs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from cm2.benchmarks.bfcl.environment import BfclEnvironment, load_entry, load_ground_truth

_MAX_NAMED = 3


class StateMatch(BaseModel):
    """Whether a backend state equals the reference, with a short reason when it does not."""

    model_config = ConfigDict(frozen=True)

    matched: bool
    reason: str = ""


class ReferenceStates:
    """Snapshots of an entry's backends after each ground-truth turn (deep copies, never handed to a policy)."""

    def __init__(self, entry_id: str, snapshots: Sequence[Mapping[str, Any]]):
        self.entry_id = entry_id
        self._snapshots = [dict(snapshot) for snapshot in snapshots]

    def __len__(self) -> int:
        return len(self._snapshots)

    def after_turn(self, turn: int) -> Mapping[str, Any]:
        """The instances by class name after turn `turn` (0-based) of the ground truth."""
        if not 0 <= turn < len(self._snapshots):
            raise IndexError(f"{self.entry_id}: no turn {turn} (the ground truth has {len(self._snapshots)} turns)")
        return self._snapshots[turn]

    def compare(self, env: BfclEnvironment, turn: int) -> StateMatch:
        """Whether `env`'s backends now equal the ground truth after `turn`."""
        return compare_instances(env.instances, self.after_turn(turn))


async def _replay(env: BfclEnvironment, ground_truth: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
    snapshots: list[dict[str, Any]] = []
    for turn, calls in enumerate(ground_truth):
        for text in calls:
            result = await env.call(env.parse_call(text))
            if result.is_error or _reports_failure(result.content):
                raise ValueError(f"{env.entry_id}: turn {turn}, ground-truth call {text!r} failed: {result.content}")
        snapshots.append(copy.deepcopy(env.instances))
    return snapshots


def _reports_failure(content: str) -> bool:
    """BFCL's backends answer a failed call with `{"error": "..."}` instead of raising."""
    try:
        value = json.loads(content)
    except json.JSONDecodeError:
        return False
    return isinstance(value, dict) and set(value) == {"error"}


def reference_states(
    entry: dict[str, Any] | str, ground_truth: Sequence[Sequence[str]] | None = None
) -> ReferenceStates:
    """The ground-truth state after each turn of `entry` (a dict or an id such as `multi_turn_base_0`).

    `ground_truth` defaults to the entry's possible answer shipped with `bfcl-eval`. Raises `ValueError`
    when a ground-truth call cannot be parsed or fails on the backends.
    """
    entry = load_entry(entry) if isinstance(entry, str) else entry
    entry_id = str(entry.get("id", ""))
    turns = load_ground_truth(entry_id) if ground_truth is None else ground_truth
    env = BfclEnvironment(entry)
    return ReferenceStates(entry_id, _run(_replay(env, turns)))


def _run(coroutine: Coroutine[Any, Any, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    # The backends are synchronous (`BfclEnvironment.call` never suspends), so the coroutine is driven by hand:
    # this works both with and without a running event loop (an episode runner builds environments inside one).
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("replaying BFCL ground truth suspended unexpectedly")


def compare_instances(current: Mapping[str, Any], reference: Mapping[str, Any]) -> StateMatch:
    """BFCL's state comparison of `current` backends against `reference` ones, class by class."""
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import state_checker

    missing = sorted(set(reference) - set(current))
    if missing:
        return StateMatch(matched=False, reason=f"missing backends: {', '.join(missing)}")
    problems: list[str] = []
    for name, expected in reference.items():
        verdict = state_checker({name: current[name]}, {name: expected})
        if not verdict["valid"]:
            attributes = sorted(verdict.get("details", {}).get("differences", {}))
            shown = ", ".join(attributes[:_MAX_NAMED]) + (" …" if len(attributes) > _MAX_NAMED else "")
            problems.append(f"{name}.{{{shown}}}" if shown else name)
    if problems:
        return StateMatch(matched=False, reason="differs from the reference: " + "; ".join(problems))
    return StateMatch(matched=True)
