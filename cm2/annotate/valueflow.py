"""Which earlier tool call of a turn produced a value that a later call passes as an argument.

A later call B depends on an earlier call A (of an earlier step of the same turn) when some argument
value of B appears in A's tool response but was not already known: not said by the user or system,
not in an earlier turn, and not one of A's own arguments (a value A was merely given and echoes back).
Values are compared as scalars at any depth of nested objects and lists, stringified, so the id `17`
matches `"17"`; inside longer response strings a value matches on word boundaries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cm2.schema import Message, ToolCall, Turn
from cm2.schema.jsontext import loads_bounded


@dataclass(frozen=True)
class CallSite:
    """One tool call of a turn, with the message that answered it (None when unanswered)."""

    step: int
    message_index: int
    position: int
    call: ToolCall
    response: Message | None


def scalars(value: Any) -> Iterator[Any]:
    """Every scalar (str, number, bool, None) inside `value`, at any depth."""
    if isinstance(value, dict):
        for item in value.values():
            yield from scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from scalars(item)
    else:
        yield value


def stringify(value: Any) -> str | None:
    """The canonical text of a scalar (None for booleans and nulls, which carry no provenance)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _response_texts(message: Message | None) -> list[str]:
    if message is None or not message.content:
        return []
    try:
        parsed = loads_bounded(message.content)
    except json.JSONDecodeError:
        return [message.content]
    texts = [text for text in map(stringify, scalars(parsed)) if text]
    return texts or [message.content]


def _occurs(value: str, texts: list[str]) -> bool:
    pattern = re.compile(r"(?<!\w)" + re.escape(value.casefold()) + r"(?!\w)")
    return any(text.casefold() == value.casefold() or pattern.search(text.casefold()) for text in texts)


def _arguments(call: ToolCall) -> Any:
    try:
        return call.function.parsed_arguments()
    except ValueError:
        return {}


def call_sites(turn: Turn) -> list[CallSite]:
    """The turn's calls in order, each paired with its tool message (by `tool_call_id`, else by position)."""
    sites: list[CallSite] = []
    for step in turn.steps:
        by_id = {m.tool_call_id: m for m in step.tool_messages if m.tool_call_id}
        for position, call in enumerate(step.calls):
            response = by_id.get(call.id) if call.id and by_id else None
            if response is None and not by_id and position < len(step.tool_messages):
                response = step.tool_messages[position]
            sites.append(CallSite(step.index, step.message_index, position, call, response))
    return sites


def value_flow(turn: Turn, known_context: list[str], *, min_chars: int = 2) -> dict[int, list[int]]:
    """For each call (index into `call_sites(turn)`), the indices of earlier calls whose output it uses.

    `known_context` holds texts whose values are not outputs of this turn's calls (system prompt, the
    user messages so far, earlier turns).
    """
    sites = call_sites(turn)
    known = [text for text in known_context if text] + [turn.user.content or ""]
    outputs = [_response_texts(site.response) for site in sites]
    inputs = [[t for t in map(stringify, scalars(_arguments(site.call))) if t] for site in sites]
    flow: dict[int, list[int]] = {}
    for b, site in enumerate(sites):
        sources: list[int] = []
        for value in inputs[b]:
            if len(value) < min_chars or _occurs(value, known):
                continue
            for a in range(b):
                if sites[a].step >= site.step or value in inputs[a]:
                    continue
                if _occurs(value, outputs[a]):
                    if a not in sources:
                        sources.append(a)
                    break  # the earliest producer is the source
        if sources:
            flow[b] = sorted(sources)
    return flow
