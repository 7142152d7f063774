"""Robust extraction of a JSON value from free model text (fences, `<think>` blocks, chatter)."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any, Literal

from cm2.schema.jsontext import loads_bounded

JsonKind = Literal["object", "array"]

_LEADING_THINK = re.compile(r"\A\s*<think>.*?</think>", re.DOTALL)
_LONE_CLOSE = re.compile(r"\A(?:(?!<think>).)*?</think>", re.DOTALL)
_FENCE = re.compile(r"```[ \t]*(?:json[c5]?|JSON)?[ \t]*\r?\n?(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


class JSONExtractionError(ValueError):
    """No JSON value of the wanted kind could be found in the text."""


def strip_think(text: str) -> str:
    """Remove the reasoning that opens an answer: leading `<think>…</think>` blocks, everything up to a
    first lone `</think>` (the opening tag was in the prompt), or all of an unclosed leading `<think>`.

    Only leading reasoning is removed, so a JSON string that contains the tags later survives.
    """
    lone = _LONE_CLOSE.match(text)  # only at the very start: after a closed block, a `</think>` is content
    rest = text[lone.end() :] if lone is not None and not _LEADING_THINK.match(text) else text
    while match := _LEADING_THINK.match(rest):
        rest = rest[match.end() :]
    if rest.lstrip().startswith("<think>"):
        return ""  # reasoning cut off before it closed
    return rest


def _kind_ok(value: Any, kind: JsonKind | None) -> bool:
    if kind is None:
        return isinstance(value, dict | list)
    return isinstance(value, dict) if kind == "object" else isinstance(value, list)


def _last_in(text: str, kind: JsonKind | None) -> tuple[bool, Any]:
    """The last top-level JSON object/array found by scanning left to right (nested ones are skipped)."""
    found: tuple[bool, Any] = (False, None)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "{[":
            try:
                value, end = _DECODER.raw_decode(text, i)
            except (json.JSONDecodeError, RecursionError):  # nested too deeply to be an answer
                i += 1
                continue
            if _kind_ok(value, kind):
                found = (True, value)
                i = end
                continue
        i += 1
    return found


def _search(body: str, kind: JsonKind | None) -> tuple[bool, Any]:
    try:
        whole = loads_bounded(body)
    except json.JSONDecodeError:
        pass
    else:
        if _kind_ok(whole, kind):
            return True, whole
    for block in reversed(_FENCE.findall(body)):
        ok, value = _last_in(block, kind)
        if ok:
            return True, value
    return _last_in(body, kind)


def extract_json(text: str, kind: JsonKind | None = None) -> Any:
    """Return the last JSON object or array in `text` (of `kind` when given).

    Order of preference: the whole text (after removing `<think>` blocks) when it parses; else the last
    fenced block (```json … ```) that parses; else the last balanced object/array found in the prose.
    Raises `JSONExtractionError` when nothing fits.
    """
    with contextlib.suppress(json.JSONDecodeError):
        whole = loads_bounded(text)
        if _kind_ok(whole, kind):
            return whole  # the text is exactly a JSON value, whatever its strings contain
    body = strip_think(text).strip()
    if not body:
        raise JSONExtractionError("the answer is empty (after removing <think> blocks)")
    ok, value = _search(body, kind)
    if ok:
        return value
    wanted = f"JSON {kind}" if kind else "JSON object or array"
    preview = body if len(body) <= 120 else body[:60] + " … " + body[-60:]
    raise JSONExtractionError(f"no {wanted} found in the answer: {preview!r}")


def schema_kind(schema: dict[str, Any] | None) -> JsonKind | None:
    """The top-level kind a JSON schema asks for, when it says so plainly."""
    if not schema:
        return None
    kind = schema.get("type")
    if kind in ("object", "array"):
        return kind
    return None
