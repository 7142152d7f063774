"""BFCL's validation metric (`probe.metric: bfcl`) on BFCL's real backends: the reference scores 1, a refusal 0,
and a rollout that stops calling after its first turn, or repeats each call, scores in between."""

from __future__ import annotations

import pytest

from cm2.benchmarks.bfcl.data import ImportOptions, import_bfcl
from cm2.benchmarks.bfcl.scoring import state_and_calls
from cm2.benchmarks.bfcl.validation import bfcl_validation
from cm2.data.io import read_dialogues
from cm2.schema import Dialogue, Message, Trajectory
from cm2.train.validation import VALIDATION_METRICS

IDS = ["multi_turn_base_8", "multi_turn_base_9"]


@pytest.fixture(scope="module")
def dialogues(tmp_path_factory: pytest.TempPathFactory) -> list[Dialogue]:
    path = tmp_path_factory.mktemp("validation") / "validation.jsonl"
    import_bfcl(path, ImportOptions(categories=["multi_turn_base"], ids=IDS, tool_docs="compact"), progress=False)
    return list(read_dialogues(path))


def _refusing_after(dialogue: Dialogue, kept_turns: int) -> Trajectory:
    """The reference's first `kept_turns` turns, then a reply without calls to every later user message."""
    turns = dialogue.turns()
    messages = list(dialogue.messages[: turns[0].start])
    for turn in turns:
        if turn.index < kept_turns:
            messages += turn.messages
        else:
            messages += [turn.user, Message(role="assistant", content="I can't help with that.")]
    return Trajectory(dialogue_uuid=dialogue.uuid, messages=messages)


def _repeating_calls(dialogue: Dialogue) -> Trajectory:
    """The reference with each turn's calls and their answers made twice before the turn's reply."""
    turns = dialogue.turns()
    messages = list(dialogue.messages[: turns[0].start])
    for turn in turns:
        steps = turn.messages[1:-1]
        messages += [turn.user, *steps, *steps, turn.messages[-1]]
    return Trajectory(dialogue_uuid=dialogue.uuid, messages=messages)


def test_the_reference_scores_one_a_refusal_zero_and_a_partial_rollout_in_between(dialogues: list[Dialogue]) -> None:
    metric = VALIDATION_METRICS.get("bfcl")
    assert metric is bfcl_validation  # found through the entry point pyproject.toml registers
    perfect = metric(dialogues, [Trajectory(dialogue_uuid=d.uuid, messages=d.messages) for d in dialogues])
    assert perfect.values == {"state_match": 1.0, "exact_calls": 1.0} and perfect.score == 1.0
    refused = metric(dialogues, [_refusing_after(d, 0) for d in dialogues])
    assert refused.values == {"state_match": 0.0, "exact_calls": 0.0} and refused.score == 0.0
    partial = metric(dialogues, [_refusing_after(d, 1) for d in dialogues])
    turns = sum(len(d.turns()) for d in dialogues)
    assert partial.values["exact_calls"] == pytest.approx(len(dialogues) / turns)
    assert 0 < partial.score < 1 and partial.score == state_and_calls(**partial.values)

    repeated = metric(dialogues, [_repeating_calls(d) for d in dialogues])
    assert repeated.values["exact_calls"] == 0.0 and repeated.score < perfect.score
