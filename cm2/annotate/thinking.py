"""Replace only the reasoning inside an assistant message's `<think>` block, and prove nothing else moved."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cm2.schema import Message, split_think

_THINK = re.compile(r"^(\s*<think>)(.*?)(</think>)", re.DOTALL)


@dataclass(frozen=True)
class ThinkSpan:
    """Where the stripped reasoning text sits inside `content`: `content[start:end]`."""

    start: int
    end: int

    def text(self, content: str) -> str:
        return content[self.start : self.end]


def think_span(content: str | None) -> ThinkSpan | None:
    """The span of the reasoning text (surrounding whitespace excluded), or None without a think block."""
    if not content:
        return None
    match = _THINK.match(content)
    if match is None:
        return None
    inner_start, inner_end = match.span(2)
    inner = match.group(2)
    lead = len(inner) - len(inner.lstrip())
    trail = len(inner) - len(inner.rstrip())
    if lead == len(inner):
        return ThinkSpan(inner_start, inner_start)
    return ThinkSpan(inner_start + lead, inner_end - trail)


def masked(message: Message) -> dict[str, object]:
    """The message as a dict with its reasoning text blanked: what must stay byte-identical."""
    data = message.dump()
    span = think_span(message.content)
    if span is not None and message.content is not None:
        data["content"] = message.content[: span.start] + message.content[span.end :]
    return data


def replace_thinking(message: Message, thinking: str) -> Message:
    """A copy of `message` whose reasoning text is `thinking`, every other byte kept.

    Raises ValueError when the message has no think block, or when the result would not read back as
    exactly that reasoning followed by the same visible text (e.g. `thinking` contains `</think>`).
    """
    content = message.content
    span = think_span(content)
    if span is None or content is None:
        raise ValueError("the message has no <think> block")
    new_content = content[: span.start] + thinking.strip() + content[span.end :]
    new = message.model_copy(update={"content": new_content})
    before, after = split_think(content), split_think(new_content)
    if after.thinking != thinking.strip() or after.visible != before.visible or masked(new) != masked(message):
        raise ValueError("the rewrite changes more than the reasoning text")
    return new
