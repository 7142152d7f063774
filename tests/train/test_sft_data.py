"""SFT examples: conversations, the assistant-only loss mask, templates that cannot be used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cm2.rollout.transcript import TemplateError
from cm2.schema import Dialogue
from cm2.train.models import ModelConfig, load_tokenizer
from cm2.train.sft_data import (
    BuildReport,
    build_examples,
    to_conversation,
    to_dataset,
    tokenize_conversation,
)


def _tool_call_text(call: dict[str, Any]) -> str:
    arguments = call["function"]["arguments"]
    args = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return '<tool_call>{"name": ' + json.dumps(call["function"]["name"]) + ', "arguments": ' + args + "}</tool_call>"


def gemma_reply(message: dict[str, Any]) -> str:
    """What cm2's Gemma template writes for an assistant message, written out independently."""
    content = message["content"]
    calls = [("\n" if content or i else "") + _tool_call_text(c) for i, c in enumerate(message.get("tool_calls", []))]
    return content + "".join(calls) + "<end_of_turn>"


def chatml_reply(message: dict[str, Any]) -> str:
    """What the tiny ChatML template writes for an assistant message."""
    return message["content"] + "".join(_tool_call_text(c) for c in message.get("tool_calls", [])) + "<|im_end|>"


@pytest.mark.parametrize(("fixture", "reply"), [("tiny_gemma_model", gemma_reply), ("tiny_chatml_model", chatml_reply)])
def test_mask_covers_exactly_the_assistant_text(
    request: pytest.FixtureRequest, fixture: str, reply: Any, training_dialogues: list[Dialogue]
) -> None:
    tokenizer = load_tokenizer(ModelConfig(path=str(request.getfixturevalue(fixture))))
    for dialogue in training_dialogues:
        conversation = to_conversation(dialogue)
        example = tokenize_conversation(tokenizer, conversation)
        assistants = [m for m in conversation["messages"] if m["role"] == "assistant"]
        assert len(example.spans) == len(assistants)
        for (start, end), message in zip(example.spans, assistants, strict=True):
            assert tokenizer.decode(example.input_ids[start:end]) == reply(message)
        in_spans = {i for start, end in example.spans for i in range(start, end)}
        assert {i for i, bit in enumerate(example.assistant_masks) if bit} == in_spans
        # Nothing lost or repeated: the whole sequence is the template's rendering (up to the last reply).
        full = tokenizer.apply_chat_template(conversation["messages"], tools=conversation["tools"], tokenize=False)
        assert tokenizer.decode(example.input_ids) == full.rstrip()


def test_gemma_template_is_used_when_the_model_has_none(tiny_gemma_model: Path) -> None:
    from cm2.rollout.chat_template import gemma_tools_template

    tokenizer = load_tokenizer(ModelConfig(path=str(tiny_gemma_model)))
    assert tokenizer.chat_template == gemma_tools_template()


def test_trl_builds_labels_from_the_mask(tiny_gemma_model: Path, training_dialogues: list[Dialogue]) -> None:
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    tokenizer = load_tokenizer(ModelConfig(path=str(tiny_gemma_model)))
    examples = build_examples(tokenizer, training_dialogues[1:3])
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_gemma_model),
        args=SFTConfig(
            output_dir=str(tiny_gemma_model / "unused"),
            use_cpu=True,
            report_to="none",
            max_length=None,
            activation_checkpointing=False,
        ),
        train_dataset=to_dataset(examples),
        processing_class=tokenizer,
    )
    dataset: Any = trainer.train_dataset
    rows = {tuple(row["input_ids"]): row["labels"] for row in dataset}
    for example in examples:
        labels = rows[tuple(example.input_ids)]
        expected = [t if bit else -100 for t, bit in zip(example.input_ids, example.assistant_masks, strict=True)]
        assert labels == expected


def test_conversation_parses_arguments_and_names_tool_messages() -> None:
    dialogue = Dialogue.model_validate(
        {
            "uuid": "d1",
            "messages": [
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
                        {"id": "c2", "function": {"name": "get_time", "arguments": "not json"}},
                    ],
                },
                {"role": "tool", "content": '{"t": 3}', "tool_call_id": "c1"},
                {"role": "tool", "content": '{"h": 9}', "tool_call_id": "c2", "name": "clock"},
                {"role": "assistant", "content": "3 degrees."},
            ],
        }
    )
    messages = to_conversation(dialogue)["messages"]
    calls = messages[1]["tool_calls"]
    assert calls[0]["function"]["arguments"] == {"city": "Oslo"}
    assert calls[1]["function"]["arguments"] == "not json"
    assert messages[1]["content"] == ""
    assert (messages[2]["name"], messages[3]["name"]) == ("get_weather", "clock")


def test_template_that_rewrites_history_is_refused(tiny_gemma_model: Path, training_dialogues: list[Dialogue]) -> None:
    tokenizer = load_tokenizer(ModelConfig(path=str(tiny_gemma_model)))
    tokenizer.chat_template = "{% for m in messages | reverse %}<{{ m.role }}>{{ m.content }}{% endfor %}"
    dialogue = training_dialogues[1]
    with pytest.raises(TemplateError, match=f"dialogue {dialogue.uuid}: message \\d+: .*not prefix-preserving"):
        build_examples(tokenizer, [dialogue])


def test_long_examples_are_cut_or_dropped(tiny_gemma_model: Path, training_dialogues: list[Dialogue]) -> None:
    tokenizer = load_tokenizer(ModelConfig(path=str(tiny_gemma_model)))
    dialogues = training_dialogues[1:]
    full = build_examples(tokenizer, dialogues)
    limit = sorted(len(e) for e in full)[1] - 1  # all but the shortest exceed it
    report = BuildReport()
    cut = build_examples(tokenizer, dialogues, max_length=limit, report=report)
    assert all(len(e) <= limit for e in cut) and len(cut) == len(full)
    assert len(report.too_long) == len(full) - 1
    assert cut[1].input_ids == full[1].input_ids[:limit]
    assert all(end <= limit for e in cut for _, end in e.spans)

    dropped = BuildReport()
    kept = build_examples(tokenizer, dialogues, max_length=limit, drop_too_long=True, report=dropped)
    assert len(kept) == 1 and dropped.dropped_too_long == len(full) - 1

    # A limit inside the tool preamble leaves no assistant token: such examples are dropped.
    tiny = BuildReport()
    assert build_examples(tokenizer, dialogues, max_length=16, report=tiny) == []
    assert len(tiny.dropped_no_trained_tokens) == len(full)


def test_dialogue_without_assistant_is_skipped(tiny_gemma_model: Path) -> None:
    tokenizer = load_tokenizer(ModelConfig(path=str(tiny_gemma_model)))
    report = BuildReport()
    lonely = Dialogue.model_validate({"uuid": "u", "messages": [{"role": "user", "content": "hi"}]})
    assert build_examples(tokenizer, [lonely], report=report) == []
    assert report.skipped_no_assistant == ["u"]
