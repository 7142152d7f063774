"""Per-turn state match of a rollout on a BFCL dialogue: after each turn, do the backends hold the state the
ground truth leaves after that turn?

The rollout's tool calls (cm2 `ToolCall`s parsed from its messages; nothing a model wrote is evaluated) are
replayed turn by turn on fresh backends of the entry through `BfclEnvironment.call`, and the state after each
turn is compared with `cm2.benchmarks.bfcl.state` (BFCL's own state comparison) against the ground truth's state
after the same turn. As in BFCL's checker, a turn whose ground truth makes calls does not match when the
rollout made none (otherwise doing nothing would match every turn that only reads). A turn the rollout
never reached does not match.
"""

from __future__ import annotations

from cm2.benchmarks.bfcl.environment import BfclEnvironment, load_ground_truth
from cm2.benchmarks.bfcl.metrics import turn_calls
from cm2.benchmarks.bfcl.state import reference_states
from cm2.schema import Trajectory


async def turn_state_matches(entry_id: str, trajectory: Trajectory, turns: int) -> list[bool]:
    """For each of the first `turns` turns: whether the rollout's backend state equals the ground truth's."""
    reference = reference_states(entry_id)
    ground_truth = load_ground_truth(entry_id)
    env = BfclEnvironment.from_entry(entry_id)
    reached = turn_calls(trajectory.messages)
    matches: list[bool] = []
    for turn in range(turns):
        if turn >= len(reached) or turn >= len(reference):
            matches.append(False)
            continue
        calls = reached[turn]
        for call in calls:
            await env.call(call)
        if ground_truth[turn] and not calls:
            matches.append(False)
            continue
        matches.append(reference.compare(env, turn).matched)
    return matches
