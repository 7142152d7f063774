"""TurnSpec from the schema (real reference sample), its validation, and verdict rows from Verdict records."""

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from cm2.reward import RewardConfig, TurnSpec, checklist_specs, compute_group, score_rollouts, verdict_rows
from cm2.schema import Dialogue, TurnChecklist, Verdict

SAMPLE = Path(__file__).resolve().parents[2] / "cm2" / "data" / "samples" / "cm2_reference_sample.json"


def _dialogue() -> Dialogue:
    path = SAMPLE if SAMPLE.exists() else Path("/work/shared/data/cm2_reference_sample.json")
    return Dialogue.model_validate(json.loads(path.read_text())[0])


def test_specs_from_the_reference_sample() -> None:
    dialogue = _dialogue()
    specs = checklist_specs(dialogue.checklists[0])
    assert len(specs) == len(dialogue.turns()) == 3
    first = specs[0]
    assert first.ids == ("C0", "C1", "C2", "C3", "C4", "C5")
    assert first.dependencies[2] == ("C1",) and first.required_for_next_turn[0]
    assert sum(first.weights) == pytest.approx(1.0)
    assert first.dependency_matrix[2].tolist() == [False, True, False, False, False, False]


def _replay_verdicts(dialogue: Dialogue, k: int) -> tuple[list[Verdict], list[int]]:
    """Verdicts of a rollout that replays the reference: each item holds from the step of its evidence."""
    verdicts: list[Verdict] = []
    steps_per_turn = []
    for t, turn in enumerate(dialogue.turns()):
        steps = turn.steps
        steps_per_turn.append(len(steps))
        for item in dialogue.checklists[k][t].items:
            # evidence `step` counts the turn's messages (user = 0): map it to the assistant step that
            # produced it (its own message, or the tool answers that follow it)
            message = max(ev.step for ev in item.evidence)
            first = max(s.index for s in steps if s.message_index <= message)
            verdicts += [Verdict(item=item.id, turn=t, step=s, satisfied=s >= first) for s in range(len(steps))]
    return verdicts, steps_per_turn


def test_replaying_the_reference_earns_full_reward() -> None:
    dialogue = _dialogue()
    specs = [checklist_specs(checklist) for checklist in dialogue.checklists]
    verdicts, steps = _replay_verdicts(dialogue, 0)
    rows = verdict_rows(verdicts, specs[0], steps)
    assert [len(turn) for turn in rows] == steps
    cfg = RewardConfig(level="turn")
    # a replay of the reference and a rollout that stopped after turn 0 with nothing satisfied
    silent = [[[[False] * specs[0][0].num_items for _ in range(steps[0])]]]
    group = score_rollouts(specs, [[rows], silent], cfg)
    scores = compute_group(group, cfg)
    assert scores.rewards.tolist() == pytest.approx([1.0, 0.0])
    assert scores.turn_rewards[0] == pytest.approx([1.0, 1.0, 1.0])
    # The paper's turn statistics run over both rollouts: the silent one never reached turns 1 and 2 and counts
    # R_t = 0 there, so the replay is credited at every turn (the reached-only reading gave it 0 on turns 1, 2).
    np.testing.assert_allclose([a[0] for a in scores.advantages[0]], [0.5, 0.5, 0.5])
    reached = RewardConfig(level="turn", turn_baseline="reached")
    np.testing.assert_allclose([a[0] for a in compute_group(group, reached).advantages[0]], [0.5, 0.0, 0.0])


def test_verdict_rows_missing_is_none_and_conflicts_are_errors() -> None:
    spec = TurnSpec(ids=("a", "b"), weights=(0.5, 0.5))
    rows = verdict_rows([Verdict(item="b", turn=0, step=1, satisfied=True)], [spec], [2])
    assert rows == [[[None, None], [None, True]]]
    clash = [Verdict(item="a", turn=0, step=0, satisfied=True), Verdict(item="a", turn=0, step=0, satisfied=False)]
    with pytest.raises(ValueError, match="turn 0, step 0, item 'a': conflicting verdicts True and False"):
        verdict_rows(clash, [spec], [1])
    with pytest.raises(ValueError, match="item 'z' is not in this turn"):
        verdict_rows([Verdict(item="z", turn=0, step=0, satisfied=True)], [spec], [1])
    with pytest.raises(ValueError, match="turn 0 has 1 steps"):
        verdict_rows([Verdict(item="a", turn=0, step=3, satisfied=True)], [spec], [1])
    with pytest.raises(ValueError, match="the rollout reached 1 turns"):
        verdict_rows([Verdict(item="a", turn=1, step=0, satisfied=True)], [spec], [1])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ids": ("a", "a"), "weights": (0.5, 0.5)}, "item 'a': duplicate id"),
        ({"ids": ("a",), "weights": (0.5, 0.5)}, "`weights` has 2 entries but there are 1 items"),
        ({"ids": ("a",), "weights": (-0.1,)}, "item 'a': weight -0.1 is negative"),
        ({"ids": ("a",), "weights": (1.0,), "dependencies": (("a",),)}, "item 'a': depends on itself"),
        ({"ids": ("a",), "weights": (1.0,), "dependencies": (("q",),)}, "depends on 'q', which is not an item"),
        (
            {"ids": ("a", "b"), "weights": (0.5, 0.5), "dependencies": (("b",), ("a",))},
            "dependency cycle a -> b -> a",
        ),
    ],
)
def test_spec_validation(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TurnSpec(**fields)


def test_checklist_specs_names_the_turn() -> None:
    bad = TurnChecklist.model_validate(
        [{"id": "C0", "focus_on": "tool.content", "question": "?", "dependence": ["C9"], "weight": 1.0}]
    )
    with pytest.raises(ValueError, match=r"^turn 0: item 'C0': depends on 'C9', which is not an item of this turn$"):
        checklist_specs([bad])


def test_equal_specs_compare_after_their_arrays_are_cached() -> None:
    a = TurnSpec(ids=("C0", "C1"), weights=(0.5, 0.5), dependencies=((), ("C0",)))
    b = TurnSpec(ids=("C0", "C1"), weights=(0.5, 0.5), dependencies=((), ("C0",)))
    _ = (a.weight_array, b.weight_array, a.dependency_matrix, b.dependency_matrix)
    assert a == b and hash(a) == hash(b)
    assert a != TurnSpec(ids=("C0", "C1"), weights=(0.4, 0.6), dependencies=((), ("C0",)))
