"""Does an evidence snippet really occur in the message part it points at?

Matching forgives what annotators commonly change when they quote: runs of whitespace, typographic
quotes and dashes, and `...` standing for an omitted middle (every fragment must then occur, in order).
In JSON-like parts (tool calls, tool results) backslashes, quotes and whitespace are ignored too, so
a snippet may quote a call with or without JSON escaping.
"""

from __future__ import annotations

import re
import unicodedata

from cm2.annotate.render import call_json
from cm2.schema import Message

#: Evidence `from` values and the role of the message each one must point at.
SOURCE_ROLES: dict[str, str] = {
    "user.content": "user",
    "assistant.content.thinking": "assistant",
    "assistant.tool_calls": "assistant",
    "assistant.content.user_visible_reply": "assistant",
    "tool.content": "tool",
}
_JSONISH = frozenset({"assistant.tool_calls", "tool.content"})
_TYPOGRAPHY = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})
_SPACES = re.compile(r"\s+")
_LOOSE_DROP = re.compile(r"[\s\\\"']+")
_ELLIPSIS = re.compile(r"\.\.\.|…")


def _normal(text: str, loose: bool) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY)
    if loose:
        return _LOOSE_DROP.sub("", text)
    return _SPACES.sub(" ", text).strip()


def source_text(message: Message, source: str) -> str:
    """The part of `message` that evidence with `from=source` quotes ('' when it has none)."""
    if source == "assistant.content.thinking":
        return message.think.thinking or ""
    if source == "assistant.content.user_visible_reply":
        return message.think.visible
    if source == "assistant.tool_calls":
        return "\n".join(call_json(call) for call in message.calls)
    return message.content or ""


def snippet_occurs(snippet: str, text: str, *, loose: bool = False) -> bool:
    """Whether `snippet` occurs in `text` after normalisation (`...` splits it into ordered fragments)."""
    haystack = _normal(text, loose)
    position = 0
    fragments = [_normal(part, loose) for part in _ELLIPSIS.split(snippet)]
    fragments = [part for part in fragments if part]
    if not fragments:
        return False
    for fragment in fragments:
        found = haystack.find(fragment, position)
        if found < 0:
            return False
        position = found + len(fragment)
    return True


def evidence_problem(message: Message, source: str, snippet: str) -> str | None:
    """Why a pointer with `from=source` and `snippet` does not fit `message`, or None when it does."""
    role = SOURCE_ROLES.get(source)
    if role is None:
        return f"`from` is {source!r}; use one of {', '.join(SOURCE_ROLES)}"
    if message.role != role:
        return f"`from` is {source!r} but that step is a {message.role} message"
    if not snippet.strip():
        return "the snippet is empty; copy a phrase from the message"
    text = source_text(message, source)
    if not text:
        return f"that {message.role} message has no {source.rsplit('.', 1)[-1]} to quote"
    if not snippet_occurs(snippet, text, loose=source in _JSONISH):
        return f"the snippet {_preview(snippet)!r} does not occur in the {source} of that message"
    return None


def _preview(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
