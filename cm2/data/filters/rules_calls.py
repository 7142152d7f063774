"""Rules on tool calls and their responses: matching, leaks into assistant text, JSON responses."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cm2.data.filters.prepare import Message, Prepared
from cm2.data.filters.schemas import clip
from cm2.data.filters.types import Rule, Violation

if TYPE_CHECKING:
    from cm2.data.filters.config import FilterConfig

MISMATCH = "tool_call_response_mismatch"


def _ids_problem(ids: list[Any], what: str) -> str | None:
    bad = [i for i in ids if i is not None and not isinstance(i, str)]
    return f"{what} id(s) that are not strings: {clip(repr(bad), 80)}" if bad else None


def _batch_problems(calls: Sequence[Any], responses: list[Message]) -> list[str]:
    """What is wrong between one assistant message's calls and the tool messages right after it."""
    if not calls:
        return [f"{len(responses)} tool response(s) follow an assistant message without tool calls"]
    call_ids = [call.get("id") if isinstance(call, dict) else None for call in calls]
    response_ids = [response.get("tool_call_id") for response in responses]
    in_order = call_ids == response_ids and all(isinstance(call_id, str) for call_id in call_ids)
    if in_order and len(set(call_ids)) == len(call_ids):
        return []  # the common case: answered in order, ids matching once each
    problems: list[str] = []
    if len(responses) != len(calls):
        problems.append(f"{len(calls)} tool call(s) but {len(responses)} tool response(s)")
    for problem in (_ids_problem(call_ids, "tool call"), _ids_problem(response_ids, "tool_call_id")):
        if problem:
            return [*problems, problem]
    present = [call_id for call_id in call_ids if isinstance(call_id, str)]
    if len(set(present)) != len(present):
        repeated = sorted(call_id for call_id, count in Counter(present).items() if count > 1)
        problems.append(f"tool call id(s) used more than once: {clip(', '.join(repeated), 120)}")
    if response_ids.count(None) == len(response_ids):
        return problems  # answered by position, as in the released CM2 sample
    if None in response_ids:
        problems.append("some tool responses have a tool_call_id and some do not")
    elif len(present) != len(call_ids):
        problems.append("tool responses carry tool_call_id but some tool calls have no id")
    elif sorted(present) != sorted(answered := [i for i in response_ids if isinstance(i, str)]):
        wanted, given = Counter(present), Counter(answered)
        unanswered = sorted((wanted - given).elements())
        unknown = sorted((given - wanted).elements())
        if unanswered:
            problems.append(f"no response for call id(s) {clip(', '.join(unanswered), 120)}")
        if unknown:
            problems.append(f"response tool_call_id(s) {clip(', '.join(unknown), 120)} match no call (or repeat one)")
    return problems


def check_call_response_mismatch(rec: Prepared, config: FilterConfig) -> list[Violation]:
    """Each assistant message's tool calls are answered by exactly as many tool messages, ids matching once each."""
    out: list[Violation] = []
    roles = rec.roles
    count = len(roles)
    index = 0
    while index < count:
        role = roles[index]
        if role != "assistant" and role != "tool":
            index += 1
            continue
        end = index + 1 if role == "assistant" else index
        while end < count and roles[end] == "tool":
            end += 1
        if role == "tool":
            reason = f"{end - index} tool response(s) with no assistant tool call before them"
            out.append(Violation(MISMATCH, reason, index))
        elif rec.calls[index] or end > index + 1:
            for problem in _batch_problems(rec.calls[index], rec.messages[index + 1 : end]):
                out.append(Violation(MISMATCH, problem, index))
        index = end
    return out


# Markers of a tool's answer pasted into assistant text: tags of common chat formats, or a message
# object with role "tool". A substring pre-check keeps the regex off most messages.
_LEAK = re.compile(
    r"</?tool_(?:response|result|output)>"
    r"|<\|im_start\|>\s*tool\b"
    r"|<\|start_header_id\|>\s*(?:ipython|tool)\b"
    r"|[\"']role[\"']\s*:\s*[\"']tool[\"']"
    r"|[\"']tool_call_id[\"']\s*:"
)


def check_tool_response_in_assistant(rec: Prepared, config: FilterConfig) -> list[Violation]:
    """Assistant messages do not contain tool responses (tool-response tags or role "tool" objects)."""
    out: list[Violation] = []
    texts, messages = rec.texts, rec.messages
    for index, role in enumerate(rec.roles):
        if role != "assistant":
            continue
        if messages[index].get("tool_call_id") is not None:
            out.append(Violation("tool_response_in_assistant", "assistant message carries a tool_call_id", index))
        content = texts[index]
        if "tool_" in content or "role" in content or "im_start" in content or "header_id" in content:
            match = _LEAK.search(content)
            if match is not None:
                reason = f"assistant content contains a tool response marker {clip(match.group(0), 40)!r}"
                out.append(Violation("tool_response_in_assistant", reason, index))
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def check_tool_response_not_json(rec: Prepared, config: FilterConfig) -> list[Violation]:
    """Every tool message's content is valid JSON (strict: no NaN or Infinity)."""
    out: list[Violation] = []
    texts = rec.texts
    for index, role in enumerate(rec.roles):
        if role != "tool":
            continue
        content = texts[index]
        if not content.strip():
            out.append(Violation("tool_response_not_json", "tool response is empty", index))
            continue
        try:
            _DECODER.decode(content)
        except ValueError as exc:
            reason = f"tool response is not valid JSON ({clip(str(exc), 120)})"
            out.append(Violation("tool_response_not_json", reason, index))
    return out


TOOL_CALL_RESPONSE_MISMATCH = Rule(
    MISMATCH, "tool calls and tool responses match one to one (ids when present)", check_call_response_mismatch
)
TOOL_RESPONSE_IN_ASSISTANT = Rule(
    "tool_response_in_assistant", "no tool responses embedded in assistant messages", check_tool_response_in_assistant
)
TOOL_RESPONSE_NOT_JSON = Rule("tool_response_not_json", "tool responses are valid JSON", check_tool_response_not_json)
