"""Rules on the tool list and on tool calls against it: `tool_schema` and `duplicate_tools`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cm2.data.filters.prepare import Prepared
from cm2.data.filters.schemas import (
    EMPTY_OBJECT_SCHEMA,
    arguments_problem,
    canonical_json,
    clip,
    parameters_problem,
)
from cm2.data.filters.types import Rule, Violation, json_type
from cm2.schema.jsontext import loads_bounded

if TYPE_CHECKING:
    from cm2.data.filters.config import FilterConfig


_WHITESPACE = re.compile(r"\s")


@dataclass(slots=True)
class ToolEntry:
    """One tool spec of a record, read defensively."""

    index: int
    name: str | None
    function: dict[str, Any] | None
    parameters_key: str | None
    """Canonical JSON of a valid parameter schema (the empty object schema when absent), else None."""
    problems: list[str] = field(default_factory=list)


def _entry(index: int, tool: Any) -> ToolEntry:
    if not isinstance(tool, dict):
        return ToolEntry(index, None, None, None, [f"is {json_type(tool)}, not an object"])
    problems: list[str] = []
    if tool.get("type", "function") != "function":
        problems.append(f"type is {tool.get('type')!r}, expected 'function'")
    function = tool.get("function")
    if not isinstance(function, dict):
        return ToolEntry(index, None, None, None, [*problems, "has no function object"])
    name = function.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("has no name")
        name = None
    elif _WHITESPACE.search(name):
        problems.append(f"name {name!r} contains whitespace")
    if "description" in function and not isinstance(function["description"], str | None):
        problems.append(f"description is {json_type(function['description'])}, not a string")
    key: str | None = EMPTY_OBJECT_SCHEMA
    if function.get("parameters") is not None:
        try:
            key = canonical_json(function["parameters"])
        except (TypeError, ValueError) as exc:
            problems.append(f"parameters are not JSON ({exc})")
            key = None
        problem = parameters_problem(key) if key is not None else None
        if problem is not None:
            problems.append(problem)
            key = None
    return ToolEntry(index, name, function, key, problems)


def tool_entries(rec: Prepared) -> list[ToolEntry]:
    """The record's tools read once and shared by both rules."""
    entries: list[ToolEntry] | None = rec.memo.get("tool_entries")
    if entries is None:
        entries = [_entry(index, tool) for index, tool in enumerate(rec.tools)]
        rec.memo["tool_entries"] = entries
    return entries


def _call_problem(call: Any, known: dict[str, ToolEntry]) -> str | None:
    if not isinstance(call, dict):
        return f"is {json_type(call)}, not an object"
    if call.get("type", "function") != "function":
        return f"type is {call.get('type')!r}, expected 'function'"
    function = call.get("function")
    if not isinstance(function, dict):
        return "has no function object"
    name = function.get("name")
    if not isinstance(name, str) or not name:
        return "has no function name"
    entry = known.get(name)
    if entry is None:
        return f"calls unknown tool {clip(name, 80)!r}"
    arguments = function.get("arguments")
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        arguments = {}
    elif isinstance(arguments, str):
        try:
            arguments = loads_bounded(arguments)
        except ValueError as exc:
            return f"{name}: arguments are not valid JSON ({exc})"
    if not isinstance(arguments, dict):
        return f"{name}: arguments are {json_type(arguments)}, not an object"
    if entry.parameters_key is None:
        return None  # the tool's own schema is broken and already reported
    problem = arguments_problem(entry.parameters_key, arguments)
    return f"{name}: {problem}" if problem else None


def check_tool_schema(rec: Prepared, config: FilterConfig) -> list[Violation]:
    """Tool specs are valid OpenAI function schemas; every call names a known tool with schema-valid arguments."""
    out = [Violation("tool_schema", problem) for problem in rec.tool_problems]
    entries = tool_entries(rec)
    known: dict[str, ToolEntry] = {}
    for entry in entries:
        label = f"tool {entry.index}" + (f" ({entry.name!r})" if entry.name else "")
        out.extend(Violation("tool_schema", f"{label}: {problem}") for problem in entry.problems)
        if entry.name is not None:
            known.setdefault(entry.name, entry)
    for index, calls in enumerate(rec.calls):
        for position, call in enumerate(calls):
            problem = _call_problem(call, known)
            if problem is not None:
                out.append(Violation("tool_schema", f"tool call {position}: {problem}", index))
    return out


def _spec_key(entry: ToolEntry) -> Any:
    """What identifies a tool's spec apart from its name; None without a description (tools that
    differ only by name and share a common parameter shape are not duplicates)."""
    function = entry.function
    if function is None or not function.get("description"):
        return None
    description = function.get("description")
    parameters = entry.parameters_key
    others = [key for key in function if key not in ("name", "description", "parameters")]
    try:
        if not isinstance(description, str | None):
            description = canonical_json(description)
        if parameters is None:
            parameters = canonical_json(function.get("parameters"))
        rest = canonical_json({key: function[key] for key in others}) if others else ""
    except (TypeError, ValueError):
        return None  # tool_schema reports parameters that are not JSON
    return (description, parameters, rest)


def check_duplicate_tools(rec: Prepared, config: FilterConfig) -> list[Violation]:
    """No two tools share a name, and no two differently named tools share the same spec."""
    entries = tool_entries(rec)
    if len(entries) < 2:
        return []
    out: list[Violation] = []
    names: dict[str, int] = {}
    specs: dict[Any, ToolEntry] = {}
    for entry in entries:
        if entry.name is not None:
            if entry.name in names:
                first = names[entry.name]
                out.append(
                    Violation("duplicate_tools", f"tool {entry.index} repeats the name {entry.name!r} of tool {first}")
                )
            else:
                names[entry.name] = entry.index
        key = _spec_key(entry)
        if key is None:
            continue
        twin = specs.setdefault(key, entry)
        if twin is not entry and twin.name != entry.name:
            reason = f"tool {entry.index} ({entry.name!r}) has the same spec as tool {twin.index} ({twin.name!r})"
            out.append(Violation("duplicate_tools", reason))
    return out


TOOL_SCHEMA = Rule(
    "tool_schema",
    "tool specs are valid function schemas; calls name known tools with valid arguments",
    check_tool_schema,
)
DUPLICATE_TOOLS = Rule("duplicate_tools", "no repeated tool names or identical tool specs", check_duplicate_tools)
