"""Per-turn tasks on BFCL's real backends: the environment starts in the reference state after the earlier
turns, the played turn is judged and scored alone, a perfect turn scores 1 and a refusal 0 (issue 15)."""

from __future__ import annotations

import pytest

pytest.importorskip("bfcl_eval")

from bfcl_rollouts import REPLY, bfcl_dialogue, group_scores, play

from cm2.data.turn_tasks import expand_turn_tasks, source_uuid, turn_tasks
from cm2.eval.replay_policies import reference_outputs
from cm2.schema import Dialogue

ENTRY = "multi_turn_base_7"


@pytest.fixture(scope="module")
def dialogue() -> Dialogue:
    return bfcl_dialogue(ENTRY)


def test_one_task_per_turn_with_the_earlier_turns_as_context(dialogue: Dialogue) -> None:
    tasks = turn_tasks(dialogue)
    turns = dialogue.turns()
    assert len(tasks) == len(turns) >= 3
    for task, turn in zip(tasks, turns, strict=True):
        assert task.first_turn == turn.index and source_uuid(task.uuid) == dialogue.uuid
        assert [m.role for m in task.messages if m.role == "user"] == ["user"]
        assert task.messages[-len(turn.messages) :] == turn.messages
        assert len(task.context) == turn.start - (1 if dialogue.system else 0)
        assert task.checklists == [[checklist[turn.index]] for checklist in dialogue.checklists]
        assert (task.model_extra or {})["bfcl_id"] == ENTRY
    assert set(expand_turn_tasks({dialogue.uuid: dialogue})) == {t.uuid for t in tasks}
    with pytest.raises(ValueError, match="already a per-turn task"):
        turn_tasks(tasks[1])


def test_the_reference_turn_scores_one_on_the_replayed_state(dialogue: Dialogue) -> None:
    for task in turn_tasks(dialogue)[1:]:
        trajectory = play(task, reference_outputs(task), max_steps=8)
        items = task.checklists[0][0].items
        state_item = next(i.id for i in items if getattr(i.check, "kind", None) == "environment_state")
        state = [v for v in trajectory.verdicts if v.item == state_item]
        assert state and state[-1].satisfied, f"turn {task.first_turn}: {state}"
        assert group_scores(task, [trajectory], "trajectory").rewards[0] == pytest.approx(1.0)
        assert [m.role for m in trajectory.messages].count("user") == 1  # the context is not part of it


def test_a_refusal_scores_zero_and_the_context_is_not_replayed_as_the_policys(dialogue: Dialogue) -> None:
    task = turn_tasks(dialogue)[2]
    refusing = play(task, [REPLY])
    perfect = play(task, reference_outputs(task), max_steps=8)
    scores = group_scores(task, [perfect, refusing], "trajectory")
    assert scores.rewards[0] == pytest.approx(1.0) and scores.rewards[1] == pytest.approx(0.0)
