"""Ground-truth BFCL states per turn and the state comparison, against the real `bfcl-eval` backends."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("bfcl_eval")

from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import state_checker
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import execute_multi_turn_func_call

from cm2.benchmarks.bfcl.environment import BfclEnvironment, load_entries, load_entry, load_ground_truth
from cm2.benchmarks.bfcl.state import compare_instances, reference_states

ENTRY = "multi_turn_base_0"


def play(env: BfclEnvironment, calls: list[str]) -> None:
    for text in calls:
        asyncio.run(env.call(env.parse_call(text)))


def test_reference_states_equal_bfcl_executors_state_after_every_turn() -> None:
    entry = load_entry(ENTRY)
    turns = load_ground_truth(ENTRY)
    states = reference_states(ENTRY)
    assert len(states) == len(turns)
    for turn, calls in enumerate(turns):
        # BFCL's own executor (its instances live in a module global keyed by the tag), checked after each turn.
        _, theirs = execute_multi_turn_func_call(
            calls, entry["initial_config"], entry["involved_classes"], "cm2_state_ref", entry["id"]
        )
        assert state_checker(theirs, dict(states.after_turn(turn))) == {"valid": True}
        assert compare_instances(theirs, states.after_turn(turn)).matched


def test_an_episode_replaying_the_ground_truth_matches_after_each_turn_and_not_before() -> None:
    turns = load_ground_truth(ENTRY)
    states = reference_states(ENTRY)
    env = BfclEnvironment.from_entry(ENTRY)
    for turn, calls in enumerate(turns):
        changes_state = not states.compare(env, turn).matched
        play(env, calls)
        assert states.compare(env, turn).matched
        if turn == 0:
            assert changes_state  # turn 0 of this entry moves files: the untouched state is not the reference
    # A state that stayed one turn behind does not match the last turn.
    behind = BfclEnvironment.from_entry(ENTRY)
    play(behind, [c for t in turns[:-1] for c in t])
    verdict = states.compare(behind, len(turns) - 1)
    assert not verdict.matched and "differs from the reference" in verdict.reason


def test_a_wrong_call_is_named_in_the_reason() -> None:
    states = reference_states(ENTRY)
    env = BfclEnvironment.from_entry(ENTRY)
    play(env, ["post_tweet(content='not asked for')"])
    verdict = states.compare(env, 0)
    assert not verdict.matched
    assert "TwitterAPI" in verdict.reason or "GorillaFileSystem" in verdict.reason
    assert len(verdict.reason) < 300


def test_a_failing_ground_truth_call_is_an_error_not_a_state() -> None:
    with pytest.raises(ValueError, match="failed"):
        reference_states(ENTRY, [["cd(folder='no_such_folder_anywhere')"]])
    with pytest.raises(ValueError, match="unknown function"):  # parsed, never evaluated
        reference_states(ENTRY, [["__import__('os').system('true')"]])


def test_reference_states_build_inside_a_running_event_loop() -> None:
    async def inside() -> int:
        return len(reference_states(ENTRY))

    assert asyncio.run(inside()) == len(load_ground_truth(ENTRY))


@pytest.mark.parametrize("category", ["multi_turn_base", "multi_turn_long_context"])
def test_every_entrys_ground_truth_replays_to_a_matching_state(category: str) -> None:
    entries = load_entries(category)[::10]  # a spread sample keeps this fast; the slow benchmark runs all
    for entry in entries:
        states = reference_states(entry)
        env = BfclEnvironment(entry)
        for turn, calls in enumerate(load_ground_truth(entry["id"])):
            play(env, calls)
            assert states.compare(env, turn).matched, (entry["id"], turn)
