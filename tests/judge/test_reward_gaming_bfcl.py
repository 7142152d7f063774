"""Calling more cannot buy reward: on BFCL's real backends, at every reward level, the clean way through a turn
strictly outscores each flailing variant (issue 13), a perfect policy scores 1 and a refusing one 0."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

pytest.importorskip("bfcl_eval")

from bfcl_rollouts import MALFORMED, REPLY, bfcl_dialogue, call, group_scores, no_llm, play

from cm2.eval.replay_policies import reference_outputs
from cm2.judge import ChecklistJudge
from cm2.reward import GroupScores
from cm2.schema import Dialogue, Trajectory

# multi_turn_base_7, turn 0: the reference is C0 = cd(folder='academic_venture'), C1 = mkdir(dir_name='academic_hub').
ENTRY = "multi_turn_base_7"
C0 = call("cd", folder="academic_venture")
C1 = call("mkdir", dir_name="academic_hub")
WRONG = call("mkdir", dir_name="scratch")  # runs fine, but changes the state in a way nobody asked for
READ = call("ls")  # harmless, changes nothing
FAILS = call("cd", folder="no_such_folder")  # BFCL answers {"error": ...}

CLEAN = [C0, C1, REPLY]
FLAILING = {
    "wrong first, then C0, C1, cut at the limit": [WRONG, C0, C1, READ],
    "C0, wrong, wrong, C1, cut at the limit": [C0, WRONG, FAILS, C1],
    "a malformed call retried": [MALFORMED, C0, C1, REPLY],
    "a call repeated": [C0, C1, C1, REPLY],
    "never ending the turn": [C0, C1, READ, READ],
    "an extra harmless call": [C0, READ, C1, REPLY],
    "an extra call that changes the state": [C0, C1, WRONG, REPLY],
}
HALF_AND_REPLY = [C0, REPLY]
HALF_AND_FLAIL = [C0, WRONG, FAILS, READ]
MISTAKE_AND_REPLY = [C0, WRONG, REPLY]
MISTAKE_AND_RETRIES = [C0, WRONG, FAILS, REPLY]
HALF_AND_GUESS = [C0, READ, REPLY]  # within the budget of 2, and `ls` leaves the state as it was


@pytest.fixture(scope="module")
def dialogue() -> Dialogue:
    return bfcl_dialogue(ENTRY, turns=1)


def mean_step_advantage(scores: GroupScores, rollout: int) -> float:
    return float(np.mean(np.concatenate(scores.advantages[rollout])))


def assert_better(dialogue: Dialogue, better: Trajectory, worse: Trajectory) -> None:
    """`better` outscores `worse` at trajectory, turn and step level, as a GRPO group of the two."""
    trajectory = group_scores(dialogue, [better, worse], "trajectory")
    assert trajectory.rewards[0] > trajectory.rewards[1]
    assert trajectory.trajectory is not None and trajectory.trajectory[0] > 0 > trajectory.trajectory[1]
    turn = group_scores(dialogue, [better, worse], "turn")
    assert turn.turn_rewards[0][0] > turn.turn_rewards[1][0]
    assert turn.advantages[0][0][0] > 0 > turn.advantages[1][0][0]
    step = group_scores(dialogue, [better, worse], "step")
    assert mean_step_advantage(step, 0) > mean_step_advantage(step, 1)


def test_the_checklist_has_call_reply_budget_and_state_items(dialogue: Dialogue) -> None:
    items = dialogue.checklists[0][0].items
    kinds = [getattr(item.check, "kind", None) or getattr(item.check, "tool", None) for item in items]
    assert kinds == ["cd", "mkdir", "ends_with_reply", "call_budget", "environment_state", "reference_calls_only"]
    assert sum(item.weight for item in items) == pytest.approx(1.0)


@pytest.mark.parametrize("name", list(FLAILING))
def test_clean_outscores_flailing_at_every_level(dialogue: Dialogue, name: str) -> None:
    clean = play(dialogue, CLEAN)
    flailing = play(dialogue, FLAILING[name])
    assert clean.rewards == {} and group_scores(dialogue, [clean], "trajectory").rewards[0] == pytest.approx(1.0)
    assert_better(dialogue, clean, flailing)


def test_doing_part_of_the_work_and_replying_beats_doing_part_and_flailing(dialogue: Dialogue) -> None:
    assert_better(dialogue, play(dialogue, HALF_AND_REPLY), play(dialogue, HALF_AND_FLAIL))


def test_a_mistake_then_a_reply_beats_the_same_mistake_then_more_attempts(dialogue: Dialogue) -> None:
    # Both miss C1 and leave the state wrong. When the budget item depended on every call item, the extra
    # attempts cost nothing once C1 was missed, and the December 6 run learned to make them.
    assert_better(dialogue, play(dialogue, MISTAKE_AND_REPLY), play(dialogue, MISTAKE_AND_RETRIES))


def test_half_the_work_and_a_reply_beats_the_same_plus_a_harmless_guess(dialogue: Dialogue) -> None:
    # Run 3 (December 6): short of the reference's calls, a guessed read-only call cost nothing (within the
    # budget, state unchanged), and RL raised stray calls on held-out turns from 41 to 69.
    assert_better(dialogue, play(dialogue, HALF_AND_REPLY), play(dialogue, HALF_AND_GUESS))
    guess = play(dialogue, HALF_AND_GUESS)
    item = next(v for v in guess.verdicts if v.item == "C5" and v.step == 2)
    assert item.satisfied is False and item.reason is not None and item.reason.startswith("ls(…) is none")


def test_the_final_reply_step_earns_a_positive_step_advantage(dialogue: Dialogue) -> None:
    # Before the fix a final reply never earned anything at step level: no item could flip there.
    scores = group_scores(dialogue, [play(dialogue, CLEAN), play(dialogue, FLAILING["never ending the turn"])], "step")
    assert scores.advantages[0][0][-1] > 0


def test_what_each_failure_costs(dialogue: Dialogue) -> None:
    def verdicts(trajectory: Trajectory) -> dict[str, bool]:
        return {v.item: bool(v.satisfied) for v in trajectory.verdicts if v.satisfied}

    cut = verdicts(play(dialogue, FLAILING["never ending the turn"]))
    assert set(cut) == {"C0", "C1"}  # no reply: no reply, budget or state item
    extra = play(dialogue, FLAILING["an extra call that changes the state"])
    assert set(verdicts(extra)) == {"C0", "C1", "C2"}  # replied, over budget, state differs
    reason = next(v.reason for v in extra.verdicts if v.item == "C4" and v.step == 3)
    assert reason is not None and "differs" in reason
    failed = play(dialogue, [FAILS, C0, C1, REPLY])
    error_step = [v for v in failed.verdicts if v.step == 0 and v.item == "C0"]
    assert error_step and error_step[0].source == "tool_error"  # BFCL's {"error": ...} is a failed call
    malformed = play(dialogue, FLAILING["a malformed call retried"])
    budget = next(v for v in malformed.verdicts if v.item == "C3" and v.step == 3)
    assert budget.satisfied is False and budget.reason is not None and budget.reason.startswith("3 tool-call attempts")


@pytest.mark.parametrize("entry", ["multi_turn_base_0", "multi_turn_base_7", "multi_turn_base_52"])
def test_a_perfect_policy_scores_one_and_a_refusing_one_zero(entry: str) -> None:
    dialogue = bfcl_dialogue(entry)
    perfect = play(dialogue, reference_outputs(dialogue), max_steps=20)
    refusing = play(dialogue, [], max_steps=20)  # a reply at every turn, never a call
    scores = group_scores(dialogue, [perfect, refusing], "trajectory")
    assert scores.rewards.tolist() == pytest.approx([1.0, 0.0])
    assert perfect.stop_reason == refusing.stop_reason == "completed"


@pytest.mark.parametrize(
    "name",
    [
        "wrong first, then C0, C1, cut at the limit",
        "C0, wrong, wrong, C1, cut at the limit",
        "a malformed call retried",
    ],
)
def test_with_call_items_only_flailing_paid_as_well_as_the_clean_turn(name: str) -> None:
    # The finding, reproduced with the checklists cm2 wrote before (call items only): R = 1 both ways.
    calls_only = bfcl_dialogue(ENTRY, turns=1, turn_checks="off")
    scores = group_scores(calls_only, [play(calls_only, CLEAN), play(calls_only, FLAILING[name])], "trajectory")
    assert scores.rewards.tolist() == [1.0, 1.0]


def test_with_call_items_only_replying_after_half_the_work_paid_no_more_than_flailing() -> None:
    calls_only = bfcl_dialogue(ENTRY, turns=1, turn_checks="off")
    scores = group_scores(
        calls_only, [play(calls_only, HALF_AND_REPLY), play(calls_only, HALF_AND_FLAIL)], "trajectory"
    )
    assert scores.rewards.tolist() == [0.5, 0.5]


def test_judging_offline_reads_the_recorded_state_and_agrees_with_the_episode(dialogue: Dialogue) -> None:
    for outputs in (CLEAN, FLAILING["an extra call that changes the state"]):
        played = play(dialogue, outputs)
        assert [s["state"]["matched"] for s in played.metadata["steps"] if "state" in s] == [outputs is CLEAN]
        offline = asyncio.run(ChecklistJudge(no_llm()).judge(played, dialogue))
        online = {(v.item, v.step): v.satisfied for v in played.verdicts}
        assert all(online.get((v.item, v.step), True) == v.satisfied for v in offline.verdicts if v.source != "carried")
        assert {v.item for v in offline.verdicts if v.satisfied} == {v.item for v in played.verdicts if v.satisfied}


def test_a_reference_call_that_failed_on_the_backend_does_not_satisfy_its_item(dialogue: Dialogue) -> None:
    # In a fresh folder `cd(folder='academic_venture')` has the reference's exact arguments but BFCL answers
    # {"error": "cd: academic_venture: No such directory..."}; it used to pass as a normal answer.
    played = play(dialogue, [call("mkdir", dir_name="x"), call("cd", folder="x"), C0, REPLY])
    step_two = next(v for v in played.verdicts if v.item == "C0" and v.step == 2)
    assert step_two.satisfied is False and step_two.source == "tool_error"
    assert "error_tool_call" in (played.messages[-2].content or "") and "tool_failed" in (
        played.messages[-2].content or ""
    )
