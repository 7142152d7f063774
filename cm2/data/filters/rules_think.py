"""The `think_tags` rule: reasoning blocks and empty messages."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from cm2.data.filters.prepare import THINK_CLOSE, THINK_OPEN, Prepared, visible_text
from cm2.data.filters.types import Rule, Violation

if TYPE_CHECKING:
    from cm2.data.filters.config import FilterConfig

RULE = "think_tags"
_TAG = re.compile(r"</?think>")


def _alternating(content: str) -> bool:
    """Tags go open, close, open, close… with no nesting."""
    depth = 0
    for match in _TAG.finditer(content):
        depth += 1 if match.group() == THINK_OPEN else -1
        if depth not in (0, 1):
            return False
    return depth == 0


def _think_problems(content: str, require_think: bool) -> list[str]:
    """What is wrong with the `<think>` block(s) of one assistant content."""
    opens, closes = content.count(THINK_OPEN), content.count(THINK_CLOSE)
    if opens == 0 and closes == 0:
        return ["no <think> block"] if require_think else []
    if opens != closes:
        return [f"unbalanced think tags ({opens} <think>, {closes} </think>)"]
    problems: list[str] = []
    start = content.find(THINK_OPEN)
    end = content.find(THINK_CLOSE)
    if end < start or (opens > 1 and not _alternating(content)):
        return ["think tags are out of order or nested"]
    if opens > 1:
        problems.append(f"{opens} think blocks (expected one)")
    if content[:start].strip():
        problems.append("text before the <think> block")
    if not content[start + len(THINK_OPEN) : end].strip():
        problems.append("empty <think> block")
    return problems


def check_think_tags(rec: Prepared, config: FilterConfig) -> list[Violation]:
    """Assistant messages hold one leading, non-empty `<think>` block (if required) and say something;
    user messages are not empty."""
    out: list[Violation] = []
    require_think = config.require_think
    texts, calls = rec.texts, rec.calls
    for index, role in enumerate(rec.roles):
        if role == "assistant":
            content = texts[index]
            for problem in _think_problems(content, require_think):
                out.append(Violation(RULE, problem, index))
            if not calls[index] and not visible_text(content):
                out.append(Violation(RULE, "assistant message with no visible text and no tool calls", index))
        elif role == "user" and not texts[index].strip():
            out.append(Violation(RULE, "empty user message", index))
    return out


THINK_TAGS = Rule(
    RULE, "one non-empty leading <think> block per assistant message; no empty messages", check_think_tags
)
