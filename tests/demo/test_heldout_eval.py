"""The held-out evaluation measured on real BFCL dialogues and backends: the reference scores 100% on every
metric, a refusal 0%, a rollout that skips one call loses exactly the turns it should, and limits that would
cut the reference are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("bfcl_eval")

from cm2.benchmarks.bfcl.data import ImportOptions, import_bfcl
from cm2.data.io import read_dialogues
from cm2.demo.config import EvalSection
from cm2.demo.evaluate import check_reference_fits, evaluate_policy
from cm2.eval.replay_policies import ReferencePolicy, RefusingPolicy
from cm2.rollout.policy import Generation, SamplingConfig
from cm2.schema import Dialogue, Message, ToolSpec

IDS = ["multi_turn_base_8", "multi_turn_base_9", "multi_turn_miss_param_9"]
METRICS = ("exact_calls", "state_match", "bfcl_checker", "checklist_score")


@pytest.fixture(scope="module")
def dialogues(tmp_path_factory: pytest.TempPathFactory) -> list[Dialogue]:
    path = tmp_path_factory.mktemp("heldout") / "heldout.jsonl"
    # reply items need an LLM judge: without one they must not keep a perfect policy below 100%
    categories = ["multi_turn_base", "multi_turn_miss_param"]
    options = ImportOptions(categories=categories, ids=IDS, tool_docs="compact", reply_item=True)
    import_bfcl(path, options, progress=False)
    found = list(read_dialogues(path))
    assert any(item.check is None for d in found for turn in d.checklists[0] for item in turn.items)
    return found


def _values(scores: object) -> dict[str, float]:
    return {key: scores.intervals[key]["value"] for key in METRICS}  # type: ignore[attr-defined]


def test_the_reference_aces_every_metric_and_a_refusal_scores_nothing(
    dialogues: list[Dialogue], tmp_path: Path
) -> None:
    perfect = evaluate_policy("reference", ReferencePolicy(dialogues), dialogues, EvalSection(), tmp_path / "ref")
    assert _values(perfect) == dict.fromkeys(METRICS, 1.0)
    assert perfect.turns == sum(len(d.turns()) for d in dialogues) and perfect.checklist_items == "deterministic"
    assert perfect.intervals["bfcl_checker"]["method"] == "wilson" and perfect.intervals["bfcl_checker"]["low"] < 1
    base = [d for d in dialogues if "base" in d.uuid]
    refused = evaluate_policy("refusal", RefusingPolicy(), base, EvalSection(), tmp_path / "refusal")
    assert _values(refused) == dict.fromkeys(METRICS, 0.0)
    assert refused.bfcl_errors == {"multi_turn:empty_turn_model_response": len(base)}
    # on miss_param the turn whose reference asks for the missing detail is one a refusal gets right
    ask = [d for d in dialogues if "miss_param" in d.uuid]
    asked = evaluate_policy("refusal", RefusingPolicy(), ask, EvalSection(), tmp_path / "ask")
    assert asked.exact_call_accuracy == pytest.approx(1 / len(ask[0].turns())) and asked.bfcl_accuracy == 0


class SkipsOneCall:
    """The reference, except that in turn 1 of multi_turn_base_9 it replies instead of making its last call
    (`mv`, which changes the file system)."""

    def __init__(self, dialogues: list[Dialogue]):
        self.reference = ReferencePolicy(dialogues)

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> Generation:
        generation = await self.reference.respond(messages, tools, sampling)
        calls = generation.message.calls if generation.message else []
        if calls and calls[0].name == "mv":
            return Generation(text="Moved it.")
        return generation


def test_a_skipped_call_costs_that_turn_and_the_state_of_every_later_turn(
    dialogues: list[Dialogue], tmp_path: Path
) -> None:
    dialogue = next(d for d in dialogues if d.uuid == "multi_turn_base_9")  # cd | cp, cd, mv | sort
    scores = evaluate_policy("skip", SkipsOneCall([dialogue]), [dialogue], EvalSection(), tmp_path)
    assert scores.exact_call_accuracy == pytest.approx(2 / 3)  # turns 0 and 2 make the reference's calls
    assert scores.state_match_accuracy == pytest.approx(1 / 3)  # the file is still unmoved after turns 1 and 2
    assert scores.bfcl_accuracy == 0.0 and scores.bfcl_errors == {"multi_turn:instance_state_mismatch": 1}
    assert 0 < scores.checklist_score < 1


def test_limits_that_would_cut_the_reference_are_refused(dialogues: list[Dialogue]) -> None:
    with pytest.raises(ValueError, match=r"max_steps_per_turn=3 would cut the reference itself: turn 1 of "):
        check_reference_fits(dialogues, EvalSection(max_steps_per_turn=3))
    check_reference_fits(dialogues, EvalSection(max_steps_per_turn=4))  # the longest turn: 3 calls and a reply
    check_reference_fits(dialogues, EvalSection(max_steps_per_turn=3, max_turns=1))  # turn 1 is not played


def test_the_replay_refuses_dialogues_it_cannot_tell_apart(dialogues: list[Dialogue]) -> None:
    base = next(d for d in dialogues if d.uuid == "multi_turn_base_9")
    twin = base.model_copy(update={"uuid": "twin", "messages": [*base.messages[:2], *base.messages[4:]]})
    with pytest.raises(ValueError, match="cannot tell them apart"):
        ReferencePolicy([base, twin])


class Exploit:
    """The reference with one cheap trick: an extra read after each turn's calls, never ending a turn
    (reading until the step limit), a malformed call in place of each turn's first call, or every call twice."""

    def __init__(self, dialogues: list[Dialogue], trick: str):
        self.reference = ReferencePolicy(dialogues)
        self.trick = trick
        self.extra_done: set[tuple[str, ...]] = set()

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> Generation:
        users = tuple(m.content or "" for m in messages if m.role == "user")
        last_user = max(i for i, m in enumerate(messages) if m.role == "user")
        mine = [m for m in messages[last_user:] if m.role == "assistant"]
        if self.trick == "twice":  # replay each reference step twice: every call repeated
            shown = messages[: last_user + 1] + [m for k, m in enumerate(mine) if k % 2 == 0]
            return await self.reference.respond(shown, tools, sampling)
        generation = await self.reference.respond(messages, tools, sampling)
        final = not (generation.message and generation.message.calls)
        if self.trick == "malformed" and not mine and not final:
            return Generation(text='<tool_call>{"name": "cd", "arguments": {"folder": </tool_call>')
        if final and (self.trick == "never_ends" or (self.trick == "extra" and users not in self.extra_done)):
            self.extra_done.add(users)
            return Generation(text='<tool_call>{"name": "pwd", "arguments": {}}</tool_call>')
        return generation


@pytest.mark.parametrize("trick", ["extra", "never_ends", "malformed", "twice"])
def test_cheap_exploits_score_below_the_reference(dialogues: list[Dialogue], tmp_path: Path, trick: str) -> None:
    dialogue = [d for d in dialogues if d.uuid == "multi_turn_base_9"]
    scores = evaluate_policy(trick, Exploit(dialogue, trick), dialogue, EvalSection(), tmp_path)
    values = _values(scores)
    # exact calls catches every trick; state match and BFCL's checker (like BFCL itself) let harmless extra
    # reads pass, and the checklist's call items do too: charging for them is the reward's job
    assert values["exact_calls"] < 1 and sum(values.values()) < len(METRICS), values
    if trick == "never_ends":
        assert scores.turns_cut_at_step_limit == len(dialogue[0].turns())
