"""Recovery examples: made on BFCL's real backends, kept only where the early call fails and the turn ends in the
reference state; SFT trains on the recovery and not on the failed attempt."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

pytest.importorskip("bfcl_eval")

from cm2.benchmarks.bfcl.data import ImportOptions, import_bfcl
from cm2.build import build_environments
from cm2.data.io import read_dialogues
from cm2.rollout.episode import replay_context
from cm2.schema import Dialogue
from cm2.tools.environment import ReportsState
from cm2.train.models import ModelConfig, load_tokenizer
from cm2.train.recovery import add_recovery
from cm2.train.sft_data import UNTRAINED, build_examples, untrained_messages

# multi_turn_base_0, turn 3: `diff` before the `cd` that reaches its files fails on the real file system
IDS = ["multi_turn_base_0", "multi_turn_base_1", "multi_turn_base_2", "multi_turn_base_3", "multi_turn_base_4"]


@pytest.fixture(scope="module")
def bfcl_dialogues(tmp_path_factory: pytest.TempPathFactory) -> list[Dialogue]:
    path = tmp_path_factory.mktemp("bfcl") / "train.jsonl"
    import_bfcl(path, ImportOptions(ids=IDS), progress=False)
    return list(read_dialogues(path))


@pytest.fixture(scope="module")
def made(bfcl_dialogues: list[Dialogue]) -> tuple[list[Dialogue], dict[str, int]]:
    joined, report = add_recovery(bfcl_dialogues, build_environments("bfcl"), per_dialogue=2)
    return joined[len(bfcl_dialogues) :], report.summary()


def test_each_variant_fails_first_then_ends_its_turn_in_the_reference_state(
    bfcl_dialogues: list[Dialogue], made: tuple[list[Dialogue], dict[str, int]]
) -> None:
    variants, report = made
    assert variants and report["made"] == len(variants)
    assert report["tried"] == report["made"] + report["attempt_worked"] + report["state_differs"]
    sources = {d.uuid: d for d in bfcl_dialogues}
    for variant in variants:
        (attempt,) = untrained_messages(variant)
        answer = variant.messages[attempt + 1]
        assert variant.messages[attempt].role == "assistant" and answer.role == "tool"
        assert "error_tool_call" in json.loads(answer.content or "{}")
        source = sources[variant.uuid.split("@recovery")[0]]
        turn = int(variant.uuid.rsplit("@recovery", 1)[1].split("-")[0])
        assert len(variant.turns()) == turn + 1  # the variant ends with the turn it changed
        assert variant.messages[:attempt] == source.messages[:attempt]
        # played again from scratch on a fresh environment: the reference state after the turn
        env = build_environments("bfcl")(variant)
        asyncio.run(replay_context(env, variant.messages))
        assert isinstance(env, ReportsState)
        report_after = env.state_report(turn)
        assert report_after is not None and report_after.matched, report_after
        recovery = variant.messages[attempt + 2]
        assert "failed:" in (recovery.content or "") and recovery.calls


def test_a_variant_survives_a_file_round_trip(made: tuple[list[Dialogue], dict[str, int]], tmp_path: Path) -> None:
    variants, _ = made
    path = tmp_path / "with_recovery.jsonl"
    path.write_text("".join(json.dumps(d.dump()) + "\n" for d in variants), encoding="utf-8")
    back = list(read_dialogues(path))
    assert [untrained_messages(d) for d in back] == [untrained_messages(d) for d in variants]
    assert all(UNTRAINED in d.dump() for d in back)


def test_sft_trains_on_the_recovery_and_not_on_the_failed_attempt(
    made: tuple[list[Dialogue], dict[str, int]], tiny_gemma_model: Path
) -> None:
    tokenizer = load_tokenizer(ModelConfig(path=str(tiny_gemma_model)))
    variant = made[0][0]
    (attempt,) = untrained_messages(variant)
    plain_record = variant.dump()
    plain_record.pop(UNTRAINED)
    (masked,) = build_examples(tokenizer, [variant])
    (full,) = build_examples(tokenizer, [Dialogue.model_validate(plain_record)])
    assert masked.input_ids == full.input_ids
    assert len(masked.spans) == len(full.spans) - 1
    skipped = [span for span in full.spans if span not in masked.spans]
    assert len(skipped) == 1
    start, end = skipped[0]
    assert not any(masked.assistant_masks[start:end]) and all(full.assistant_masks[start:end])
    assistants = [i for i, m in enumerate(variant.messages) if m.role == "assistant"]
    assert full.spans.index(skipped[0]) == assistants.index(attempt)
    assert masked.trained_tokens == full.trained_tokens - (end - start)


def test_an_attempt_that_works_makes_no_variant(bfcl_dialogues: list[Dialogue]) -> None:
    # calls that do not depend on each other (the early call works): tried, counted, not kept
    _, report = add_recovery(bfcl_dialogues, build_environments("bfcl"), per_dialogue=50, kinds=("prerequisite",))
    assert report.attempt_worked > 0 and report.prerequisite == report.made > 0 and report.wrong_value == 0
    assert report.tried == report.made + report.attempt_worked + report.state_differs


def test_a_wrong_value_is_one_argument_changed_to_a_value_used_before(bfcl_dialogues: list[Dialogue]) -> None:
    made, report = add_recovery(bfcl_dialogues, build_environments("bfcl"), per_dialogue=50, kinds=("wrong_value",))
    variants = made[len(bfcl_dialogues) :]
    assert variants and report.wrong_value == len(variants) and report.prerequisite == 0
    for variant in variants:
        (attempt,) = untrained_messages(variant)
        (tried,), (made_call,) = variant.messages[attempt].calls, variant.messages[attempt + 2].calls
        wrong, right = tried.function.parsed_arguments(), made_call.function.parsed_arguments()
        assert tried.name == made_call.name and wrong.keys() == right.keys()
        (changed,) = [name for name in right if wrong[name] != right[name]]
        earlier = variant.messages[:attempt]
        assert len(str(right[changed])) >= 3
        assert any(str(right[changed]) in (m.content or "") for m in earlier if m.role in ("user", "tool"))
        used = [v for m in earlier for c in m.calls for v in c.function.parsed_arguments().values()]
        assert wrong[changed] in used
