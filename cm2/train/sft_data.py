"""Reference dialogues as SFT examples: chat messages, then token ids with an assistant-only loss mask.

Each dialogue becomes a conversational example (`messages` with `tool_calls`, plus `tools`). It is
tokenised by rendering the conversation with the policy's chat template one assistant message at a
time, exactly as a rollout grows it (cm2.rollout.transcript): the text before each assistant message
(system, user and tool turns, template glue, the generation prompt) has mask 0, the assistant's own
text up to and including its end-of-turn marker has mask 1. TRL's SFTTrainer turns the mask
(`assistant_masks`) into labels. This works with any prefix-preserving template, with no
`{% generation %}` markers needed, and tokenises the way the RL stage does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cm2.rollout.transcript import TemplateError, call_names, template_message
from cm2.schema import Dialogue

UNTRAINED = "untrained_messages"
"""A dialogue field: positions in `messages` of assistant messages SFT shows as context but does not train on
(the failed attempt of a recovery example, cm2.train.recovery)."""


def untrained_messages(dialogue: Dialogue) -> frozenset[int]:
    """The positions of `UNTRAINED` (none for a plain reference dialogue)."""
    return frozenset(int(i) for i in (dialogue.model_extra or {}).get(UNTRAINED, []))


class ExampleError(ValueError):
    """A dialogue that cannot become a training example; the message names the dialogue."""


def to_conversation(dialogue: Dialogue) -> dict[str, Any]:
    """The dialogue as a TRL conversational example: `{"messages": [...], "tools": [...]}`.

    Tool-call arguments become objects when they are valid JSON (what most chat templates expect);
    a tool message gets the name of the tool it answers when the data left it out.
    """
    names = call_names(dialogue.messages)
    return {
        "messages": [template_message(m, names) for m in dialogue.messages],
        "tools": [tool.dump() for tool in dialogue.tools],
    }


@dataclass
class TokenizedExample:
    """Token ids of one conversation and the mask of the tokens the loss is computed on."""

    input_ids: list[int]
    assistant_masks: list[int]
    spans: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of each assistant message

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def trained_tokens(self) -> int:
        return sum(self.assistant_masks)

    def truncated(self, max_length: int) -> TokenizedExample:
        """The first `max_length` tokens (spans clipped, those past the end removed)."""
        spans = [(start, min(end, max_length)) for start, end in self.spans if start < max_length]
        return TokenizedExample(self.input_ids[:max_length], self.assistant_masks[:max_length], spans)


def _render(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, gen: bool) -> str:
    text = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=gen)
    return str(text)


def segment_conversation(
    tokenizer: Any, conversation: dict[str, Any], untrained: frozenset[int] = frozenset()
) -> list[tuple[str, bool]]:
    """The rendered conversation cut into `(text, trained)` pieces, ending with the last assistant message.

    An assistant piece is what the template adds for that message after the generation prompt, less
    trailing whitespace (template glue the policy never generates); everything else is context, and so are
    the assistant messages at the positions in `untrained`.
    Raises `TemplateError` when the template rewrites earlier text as the conversation grows.
    """
    messages: list[dict[str, Any]] = conversation["messages"]
    tools = conversation.get("tools") or None
    pieces: list[tuple[str, bool]] = []
    done = ""  # the text covered by `pieces`
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:index], tools, gen=True)
        full = _render(tokenizer, messages[: index + 1], tools, gen=False)
        if not prompt.startswith(done) or not full.startswith(prompt):
            raise TemplateError(
                f"message {index}: the chat template is not prefix-preserving (rendering a longer conversation "
                "changed earlier text), so assistant tokens cannot be located; use a template that renders "
                "past turns verbatim, such as cm2's (cm2/rollout/chat_templates/gemma_tools.jinja)"
            )
        reply = full[len(prompt) :].rstrip()
        if prompt[len(done) :]:
            pieces.append((prompt[len(done) :], False))
        pieces.append((reply, index not in untrained))
        done = prompt + reply
    return pieces


def tokenize_conversation(
    tokenizer: Any, conversation: dict[str, Any], untrained: frozenset[int] = frozenset()
) -> TokenizedExample:
    """Token ids and assistant mask of a conversation (see `segment_conversation`).

    Each piece is tokenised on its own, without adding special tokens: the template writes them.
    """
    ids: list[int] = []
    mask: list[int] = []
    spans: list[tuple[int, int]] = []
    for text, trained in segment_conversation(tokenizer, conversation, untrained):
        piece = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        if trained:
            spans.append((len(ids), len(ids) + len(piece)))
        ids.extend(piece)
        mask.extend([int(trained)] * len(piece))
    return TokenizedExample(input_ids=ids, assistant_masks=mask, spans=spans)


@dataclass
class BuildReport:
    """What happened to the dialogues while building a training set."""

    dialogues: int = 0
    examples: int = 0
    skipped_no_assistant: list[str] = field(default_factory=list)
    too_long: list[str] = field(default_factory=list)
    dropped_too_long: int = 0
    dropped_no_trained_tokens: list[str] = field(default_factory=list)
    tokens: int = 0
    trained_tokens: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "dialogues": self.dialogues,
            "examples": self.examples,
            "skipped (no assistant message)": len(self.skipped_no_assistant),
            "longer than max_length": len(self.too_long),
            "dropped as too long": self.dropped_too_long,
            "dropped (no assistant token within max_length)": len(self.dropped_no_trained_tokens),
            "tokens": self.tokens,
            "trained tokens": self.trained_tokens,
        }


def build_examples(
    tokenizer: Any,
    dialogues: Iterable[Dialogue],
    *,
    max_length: int | None = None,
    drop_too_long: bool = False,
    report: BuildReport | None = None,
) -> list[TokenizedExample]:
    """Tokenised examples for `dialogues`.

    Examples longer than `max_length` are cut to their first `max_length` tokens, or dropped with
    `drop_too_long`; one left with no assistant token (a long tool preamble) is dropped either way.
    """
    report = report if report is not None else BuildReport()
    examples: list[TokenizedExample] = []
    for dialogue in dialogues:
        report.dialogues += 1
        if not any(m.role == "assistant" for m in dialogue.messages):
            report.skipped_no_assistant.append(dialogue.uuid)
            continue
        try:
            example = tokenize_conversation(tokenizer, to_conversation(dialogue), untrained_messages(dialogue))
        except TemplateError as exc:
            raise TemplateError(f"dialogue {dialogue.uuid}: {exc}") from exc
        except Exception as exc:  # jinja errors, bad tool specs: name the dialogue
            raise ExampleError(f"dialogue {dialogue.uuid}: cannot render it ({type(exc).__name__}: {exc})") from exc
        if max_length is not None and len(example) > max_length:
            report.too_long.append(dialogue.uuid)
            if drop_too_long:
                report.dropped_too_long += 1
                continue
            example = example.truncated(max_length)
            if not example.trained_tokens:
                report.dropped_no_trained_tokens.append(dialogue.uuid)
                continue
        report.examples += 1
        report.tokens += len(example)
        report.trained_tokens += example.trained_tokens
        examples.append(example)
    return examples


def to_dataset(examples: list[TokenizedExample]) -> Any:
    """A `datasets.Dataset` with `input_ids` and `assistant_masks`, which TRL's SFTTrainer takes as is."""
    from datasets import Dataset

    return Dataset.from_dict(
        {"input_ids": [e.input_ids for e in examples], "assistant_masks": [e.assistant_masks for e in examples]}
    )
