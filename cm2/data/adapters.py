"""Format adapters: dataset records ↔ `Dialogue`, each a lossless round trip.

- `cm2`: the released CM2 annotated files and cm2's own JSONL: `uuid`, `messages`, `tools`,
  `checklists` (checklists → turns → items). A record that carries its own id is read as this format.
- `nemotron`: Nemotron post-training tool-calling records: `uuid`, `messages`, and `metadata`, a
  JSON *string* whose `tools` list holds the tool specs (other keys may sit beside it). The string is
  kept verbatim on the dialogue (as the extra field `metadata`) and written back unchanged when the
  tools are unchanged; the dialogue's `tools` replace the string's `tools` when they differ.
- `openai`: plain `{"messages": [...], "tools": [...]}` records without an id; the id is derived
  from the content (`content_id`) and left out again on output while the content still matches.

Every record → Dialogue → record trip gives back an equal dict (unknown keys included). An id spelled
`id` or `dialogue_id` is mirrored into `uuid` and the mirror dropped again on output; the one record
shape this cannot tell apart is one that already holds a `uuid` equal to its `id` (it comes back
without the `uuid`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args

from pydantic import ValidationError

from cm2.data.errors import RecordError
from cm2.schema import Dialogue
from cm2.schema.jsontext import loads_bounded
from cm2.schema.validation import check_dialogue

RecordFormat = Literal["cm2", "nemotron", "openai"]
RECORD_FORMATS: tuple[RecordFormat, ...] = get_args(RecordFormat)
_ALIAS_ID_KEYS = ("id", "dialogue_id")
_ID_KEYS = ("uuid", *_ALIAS_ID_KEYS)
_MAX_REPORTED = 3


def record_id(record: Mapping[str, Any]) -> str | None:
    """The record's id under any of its usual names, as text; None when it has none."""
    for key in _ID_KEYS:
        if key in record:
            return str(record[key])
    return None


def content_id(record: Mapping[str, Any]) -> str:
    """A stable id for a record without one: a hash of its canonical JSON."""
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]


def detect_format(record: Mapping[str, Any]) -> RecordFormat:
    """Which adapter reads `record`; raises `RecordError` when it is no dialogue at all."""
    if not isinstance(record.get("messages"), list):
        raise RecordError(_where(record, None), "no `messages` list; not a dialogue record")
    if "checklists" in record:
        return "cm2"
    metadata = record.get("metadata")
    if "tools" not in record and (isinstance(metadata, str) or (isinstance(metadata, dict) and "tools" in metadata)):
        return "nemotron"
    return "cm2" if record_id(record) is not None else "openai"


# ---- errors ---------------------------------------------------------------------------------


def _where(record: Mapping[str, Any], location: str | None) -> str:
    if location:
        return location
    rid = record_id(record)
    return f"dialogue {rid}" if rid is not None else "record"


def _fail(record: Mapping[str, Any], location: str | None, message: str) -> RecordError:
    rid = record_id(record)
    prefix = f"dialogue {rid!r}: " if location and rid is not None else ""
    return RecordError(_where(record, location), prefix + message)


def _field_path(loc: tuple[int | str, ...], data: Any, missing: bool) -> str:
    """`messages[3].tool_calls[0].function.name`, dropping the branch tags pydantic adds for unions."""
    parts: list[str] = []
    current = data
    for position, key in enumerate(loc):
        last = position == len(loc) - 1
        if isinstance(key, int) and isinstance(current, list) and key < len(current):
            parts.append(f"[{key}]")
            current = current[key]
        elif isinstance(key, str) and isinstance(current, dict) and (key in current or (last and missing)):
            parts.append(f".{key}" if parts else key)
            current = current.get(key)
        else:
            break
    return "".join(parts) or "(record)"


def _describe(exc: ValidationError, data: Any) -> str:
    found: dict[str, tuple[list[str], str]] = {}
    for error in exc.errors(include_url=False):
        path = _field_path(tuple(error["loc"]), data, error["type"] == "missing")
        messages, got = found.setdefault(path, ([], ""))
        if error["msg"] not in messages:
            messages.append(error["msg"])
        if not got and error["type"] != "missing" and not isinstance(error.get("input"), dict | list):
            found[path] = (messages, f" (got {error.get('input')!r:.60})")
    lines = [f"{path}: {' or '.join(messages)}{got}" for path, (messages, got) in list(found.items())[:_MAX_REPORTED]]
    if len(found) > _MAX_REPORTED:
        lines.append(f"and {len(found) - _MAX_REPORTED} more fields")
    return "; ".join(lines)


def _usable(dialogue: Dialogue) -> str | None:
    """Why a dialogue that fits the schema is still no reference dialogue: no user turn, or a tool call
    whose arguments are not a JSON object."""
    if not any(message.role == "user" for message in dialogue.messages):
        return "messages: no user message, so no turn to learn from or replay"
    for index, message in enumerate(dialogue.messages):
        for number, call in enumerate(message.tool_calls or []):
            try:
                call.function.parsed_arguments()
            except ValueError as exc:
                return f"messages[{index}].tool_calls[{number}].function.arguments: {exc}"
    return None


def _validate(data: dict[str, Any], record: Mapping[str, Any], location: str | None) -> Dialogue:
    try:
        dialogue = Dialogue.model_validate(data)
    except ValidationError as exc:
        raise _fail(record, location, _describe(exc, data)) from None
    problem = _usable(dialogue)
    if problem is not None:
        raise _fail(record, location, problem)
    return dialogue


def _mapping(record: Any, location: str | None) -> Mapping[str, Any]:
    if not isinstance(record, Mapping):
        raise RecordError(location or "record", f"expected a JSON object, got {type(record).__name__}")
    return record


# ---- ids ------------------------------------------------------------------------------------


def _with_uuid(record: Mapping[str, Any]) -> dict[str, Any]:
    """Give a record keyed by `id`/`dialogue_id` a `uuid` too; the original key stays as an extra."""
    if "uuid" in record:
        return dict(record)
    for key in _ALIAS_ID_KEYS:
        if key in record:
            return {"uuid": str(record[key]), **record}
    return dict(record)


def _drop_added_uuid(data: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `_with_uuid`: drop `uuid` when it only mirrors an `id`/`dialogue_id` key."""
    for key in _ALIAS_ID_KEYS:
        if key in data and "uuid" in data and str(data[key]) == data["uuid"]:
            return {k: v for k, v in data.items() if k != "uuid"}
    return data


# ---- cm2 ------------------------------------------------------------------------------------


def from_cm2(record: Mapping[str, Any], *, location: str | None = None) -> Dialogue:
    """A released CM2 record (or any record with an id, messages and tools) as a Dialogue."""
    record = _mapping(record, location)
    return _validate(_with_uuid(record), record, location)


def to_cm2(dialogue: Dialogue) -> dict[str, Any]:
    return _drop_added_uuid(dialogue.dump())


# ---- openai ---------------------------------------------------------------------------------


def from_openai(record: Mapping[str, Any], *, location: str | None = None) -> Dialogue:
    """A plain `{"messages", "tools"}` record; without an id it gets `content_id(record)`."""
    record = _mapping(record, location)
    data = _with_uuid(record)
    if "uuid" not in data:
        data = {"uuid": content_id(record), **data}
    return _validate(data, record, location)


def to_openai(dialogue: Dialogue) -> dict[str, Any]:
    data = _drop_added_uuid(dialogue.dump())
    rest = {key: value for key, value in data.items() if key != "uuid"}
    if data.get("uuid") == content_id(rest):
        return rest
    return data


# ---- nemotron -------------------------------------------------------------------------------


def _json_field(text: str, field: str, record: Mapping[str, Any], location: str | None) -> Any:
    """The JSON value in the string `text` of `field`; a parse error names the field and the position."""
    try:
        return loads_bounded(text)
    except json.JSONDecodeError as exc:
        raise _fail(record, location, f"{field}: invalid JSON ({exc.msg} at char {exc.pos})") from None


def _parse_metadata(value: Any, record: Mapping[str, Any], location: str | None) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise _fail(record, location, f"metadata: expected a JSON string, got {type(value).__name__}")
    parsed = _json_field(value, "metadata", record, location)
    if not isinstance(parsed, dict):
        raise _fail(record, location, f"metadata: a JSON {type(parsed).__name__}, not an object")
    return parsed


def _is_bare(tool: Any) -> bool:
    """A tool given as the bare function (`{"name", "parameters"}`) rather than `{"type", "function"}`."""
    return isinstance(tool, dict) and "function" not in tool


def from_nemotron(record: Mapping[str, Any], *, location: str | None = None) -> Dialogue:
    """A Nemotron tool-calling record; tools come from its `metadata` JSON string."""
    record = _mapping(record, location)
    metadata = _parse_metadata(record.get("metadata"), record, location)
    tools = metadata.get("tools", [])
    if isinstance(tools, str):
        tools = _json_field(tools, "metadata.tools", record, location)
    if not isinstance(tools, list):
        raise _fail(record, location, f"metadata.tools: expected a list, got {type(tools).__name__}")
    specs = [{"function": tool} if _is_bare(tool) else tool for tool in tools]
    return _validate({**_with_uuid(record), "tools": specs}, record, location)


def to_nemotron(dialogue: Dialogue) -> dict[str, Any]:
    """The Nemotron record: tools go back into the `metadata` string, kept verbatim when unchanged."""
    data = _drop_added_uuid(dialogue.dump())
    tools = data.pop("tools", [])
    original = data.get("metadata")
    where = f"dialogue {dialogue.uuid}"
    try:
        metadata = _parse_metadata(original, data, where)
    except RecordError as exc:
        raise RecordError(where, f"cannot put tools into {exc.message}") from None
    old_tools = metadata.get("tools")
    bare = isinstance(old_tools, list) and bool(old_tools) and all(_is_bare(tool) for tool in old_tools)
    shaped = [_unwrap(tool) if bare else tool for tool in tools]
    if "tools" in metadata:
        updated = {**metadata, "tools": shaped}
    else:
        updated = {"tools": shaped, **metadata} if shaped else metadata
    if isinstance(original, dict):
        data["metadata"] = updated
    elif not (isinstance(original, str) and updated == metadata):
        data["metadata"] = json.dumps(updated)
    return data


def _unwrap(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function")
    if isinstance(function, dict) and set(tool) <= {"function", "type"}:
        return function
    return tool


# ---- dispatch -------------------------------------------------------------------------------

READERS: dict[RecordFormat, Callable[..., Dialogue]] = {
    "cm2": from_cm2,
    "nemotron": from_nemotron,
    "openai": from_openai,
}
WRITERS: dict[RecordFormat, Callable[[Dialogue], dict[str, Any]]] = {
    "cm2": to_cm2,
    "nemotron": to_nemotron,
    "openai": to_openai,
}


def to_dialogue(
    record: Mapping[str, Any], *, source: RecordFormat | None = None, location: str | None = None
) -> Dialogue:
    """Read any supported record as a Dialogue (`source` forces the adapter instead of `detect_format`)."""
    record = _mapping(record, location)
    return READERS[_format_of(record, source, location)](record, location=location)


def _format_of(record: Mapping[str, Any], source: RecordFormat | None, location: str | None) -> RecordFormat:
    """`source` if given, else the format `detect_format` finds (its failure reported at `location`)."""
    if source is not None:
        return source
    try:
        return detect_format(record)
    except RecordError as exc:
        raise _fail(record, location, exc.message) from None


def from_dialogue(dialogue: Dialogue, fmt: RecordFormat) -> dict[str, Any]:
    """Write a Dialogue as a record of format `fmt`."""
    return WRITERS[fmt](dialogue)


def checked_dialogue(dialogue: Dialogue, location: str | None) -> Dialogue:
    """`dialogue` if its checklists are sound (weights, dependencies, evidence, turn count; see
    `cm2.schema.validation`), else a `RecordError` at `location` listing every issue on one line."""
    issues = check_dialogue(dialogue)
    if issues:
        raise RecordError(location or f"dialogue {dialogue.uuid}", "; ".join(str(issue) for issue in issues))
    return dialogue


def convert_record(
    record: Mapping[str, Any],
    *,
    to: RecordFormat | None = None,
    source: RecordFormat | None = None,
    location: str | None = None,
) -> dict[str, Any]:
    """Validate a record (its checklists too) and write it as format `to` (default: the format it came in)."""
    record = _mapping(record, location)
    source = _format_of(record, source, location)
    dialogue = checked_dialogue(READERS[source](record, location=location), location)
    return WRITERS[to or source](dialogue)
