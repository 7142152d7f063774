"""Per-turn call accuracy and BFCL's own verdict, computed from cm2 rollouts on BFCL dialogues.

- exact-call accuracy: a turn counts when the rollout's tool calls in that turn are the reference's, same
  order, same names, equal arguments (numbers by value, objects regardless of key order). Every reference
  turn up to the evaluated limit counts; a turn the rollout never reached is wrong.
- BFCL checker: the rollout's calls, turn by turn, go to `bfcl_eval`'s `multi_turn_checker` (through
  `cm2.benchmarks.bfcl.evaluate.score_entry`, as `bfcl evaluate` scores an entry), which replays them and
  the ground truth on fresh backends and compares states and results after every turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cm2.benchmarks.bfcl.loop import StepResponse, step_response
from cm2.judge.checks import values_equal
from cm2.schema import Dialogue, Message, ToolCall, Trajectory, split_turns


@dataclass(frozen=True)
class CallScore:
    """One rollout: turns with exactly the reference calls, turns counted, and BFCL's verdict."""

    exact_turns: int
    turns: int
    bfcl_valid: bool
    bfcl_error: str | None = None


def _arguments(call: ToolCall) -> Any:
    try:
        return call.function.parsed_arguments()
    except ValueError:
        return call.function.arguments  # malformed: never equal to a reference object


def turn_calls(messages: list[Message]) -> list[list[ToolCall]]:
    """The tool calls of each turn (a turn starts at each user message)."""
    return [[call for step in turn.steps for call in step.calls] for turn in split_turns(messages)]


def same_calls(expected: list[ToolCall], actual: list[ToolCall]) -> bool:
    """Same names and arguments, in order."""
    return len(expected) == len(actual) and all(
        e.name == a.name and values_equal(_arguments(e), _arguments(a)) for e, a in zip(expected, actual, strict=True)
    )


def exact_turns(reference: Dialogue, trajectory: Trajectory, max_turns: int) -> tuple[int, int]:
    """(turns whose calls match the reference, turns counted) for one rollout."""
    expected = turn_calls(reference.messages)[:max_turns]
    actual = turn_calls(trajectory.messages)
    exact = sum(same_calls(calls, actual[t]) for t, calls in enumerate(expected) if t < len(actual))
    return exact, len(expected)


def call_counts(reference: Dialogue, trajectory: Trajectory, max_turns: int) -> tuple[int, int]:
    """(calls the rollout made in the counted turns, those of them the reference turn did not make: no reference
    call of that turn has the same name and arguments). Stray calls are what `exact_turns` misses when a policy
    learns to add guesses (run 3 of the learning experiment)."""
    expected = turn_calls(reference.messages)[:max_turns]
    actual = turn_calls(trajectory.messages)[: len(expected)]
    made = stray = 0
    for t, calls in enumerate(actual):
        for call in calls:
            made += 1
            if not any(same_calls([wanted], [call]) for wanted in expected[t]):
                stray += 1
    return made, stray


def bfcl_responses(trajectory: Trajectory, turns: int) -> list[list[StepResponse]]:
    """BFCL's `result` for the first `turns` turns: per turn, the step responses (a turn not reached: none)."""
    responses: list[list[list[dict[str, str]] | str]] = [
        [step_response(step.assistant) for step in turn.steps] for turn in trajectory.turns()[:turns]
    ]
    return responses + [[] for _ in range(turns - len(responses))]


def bfcl_verdict(entry_id: str, trajectory: Trajectory, turns: int) -> tuple[bool, str | None]:
    """BFCL's checker on the rollout's first `turns` turns against the ground truth of those turns."""
    from cm2.benchmarks.bfcl.environment import load_entry, load_ground_truth
    from cm2.benchmarks.bfcl.evaluate import score_entry
    from cm2.benchmarks.bfcl.loop import BfclRuntime, EntryRun

    entry = load_entry(entry_id)
    ground_truth = load_ground_truth(entry_id)[:turns]
    run = EntryRun(responses=bfcl_responses(trajectory, len(ground_truth)))
    runtime = BfclRuntime(entry)
    try:
        valid, error_type, _ = score_entry(entry, ground_truth, run, runtime.name)
    finally:
        runtime.close()
    return valid, error_type


def score_calls(reference: Dialogue, trajectory: Trajectory, entry_id: str, max_turns: int) -> CallScore:
    """Exact-call turns and BFCL's verdict of one rollout of a BFCL dialogue."""
    exact, counted = exact_turns(reference, trajectory, max_turns)
    valid, error = bfcl_verdict(entry_id, trajectory, counted)
    return CallScore(exact_turns=exact, turns=counted, bfcl_valid=valid, bfcl_error=error)
