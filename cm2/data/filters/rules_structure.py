"""Rules on the shape of a record and the order of its roles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cm2.data.filters.prepare import ROLES, Prepared, visible_text
from cm2.data.filters.types import Rule, Violation

if TYPE_CHECKING:
    from cm2.data.filters.config import FilterConfig


_USER_AFTER = {
    "user": "the previous user message got no assistant reply",
    "call": "the assistant's tool calls were not answered",
    "tool": "the tool responses were not followed by an assistant reply",
}


def check_structure(rec: Prepared, config: FilterConfig) -> list[Violation]:
    """The record is an object with a list of message objects, each with a string role and text content."""
    return [Violation("structure", reason, index) for index, reason in rec.problems]


def check_role_order(rec: Prepared, config: FilterConfig) -> list[Violation]:
    """System only first; a user message opens every turn; tools answer calls; a final reply closes each turn."""
    roles = rec.roles
    if not roles:
        return [Violation("role_order", "the dialogue has no messages")]
    out: list[Violation] = []
    previous: str | None = None  # role of the previous non-system message; "call": assistant with tool calls
    seen_user = False
    for index, role in enumerate(roles):
        if role not in ROLES:
            out.append(Violation("role_order", f"role {role!r} is not one of system, user, assistant, tool", index))
            previous = "other"
            continue
        if role == "system":
            if index:
                out.append(Violation("role_order", "system message is not the first message", index))
            continue
        if role == "user":
            if previous in _USER_AFTER:
                out.append(Violation("role_order", f"user message, but {_USER_AFTER[previous]}", index))
            seen_user = True
        elif role == "assistant":
            if not seen_user:
                out.append(Violation("role_order", "assistant message before the first user message", index))
            elif previous == "assistant":
                reason = "assistant message after the turn's final reply (expected user)"
                out.append(Violation("role_order", reason, index))
        elif previous not in ("call", "tool"):
            out.append(Violation("role_order", "tool message not preceded by an assistant tool call", index))
        previous = "call" if role == "assistant" and rec.calls[index] else role
    last = len(roles) - 1
    if roles[last] != "assistant" or rec.calls[last]:
        out.append(Violation("role_order", "the dialogue does not end with an assistant reply", last))
    elif not visible_text(rec.texts[last]):
        out.append(Violation("role_order", "the final assistant reply has no visible text", last))
    return out


STRUCTURE = Rule("structure", "record, message and content shapes are readable", check_structure)
ROLE_ORDER = Rule("role_order", "roles follow system? (user assistant+ [tool*])+ and end on a reply", check_role_order)
