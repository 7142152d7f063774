"""Executable tools: plain Python callables answering tool calls for real."""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from cm2.schema import ToolCall, ToolSpec
from cm2.tools.result import ToolResult, error_result
from cm2.tools.schema_check import schema_violation
from cm2.tools.signature import spec_from_callable


def public_methods(obj: object) -> dict[str, Callable[..., Any]]:
    """The public methods of `obj` by name (properties are not touched, so none of them runs)."""
    methods: dict[str, Callable[..., Any]] = {}
    for name in dir(type(obj)):
        if name.startswith("_"):
            continue
        static = inspect.getattr_static(obj, name)
        if isinstance(static, property) or not callable(getattr(obj, name, None)):
            continue
        methods[name] = getattr(obj, name)
    return methods


def _encode(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def to_json_text(value: Any) -> str:
    """A tool's return value as JSON text (objects JSON cannot hold are converted or written as strings)."""
    return json.dumps(value, ensure_ascii=False, default=_encode)


class PythonTools:
    """A tool environment backed by Python callables: a mapping name → callable, or an object whose public
    methods are the tools. Specs are derived from signatures and docstrings unless given.

    Calls run in the event loop's thread, one at a time, in the order they arrive (stateful tools rely on it).
    Keep one instance (and one backing object) per episode.
    """

    def __init__(
        self,
        tools: Mapping[str, Callable[..., Any]] | object,
        specs: Sequence[ToolSpec] | None = None,
        *,
        validate_schema: bool = True,
    ):
        self.functions: dict[str, Callable[..., Any]] = (
            dict(tools) if isinstance(tools, Mapping) else public_methods(tools)
        )
        if specs is None:
            self.specs = {name: spec_from_callable(name, fn) for name, fn in self.functions.items()}
        else:
            self.specs = {spec.name: spec for spec in specs}
            missing = sorted(set(self.specs) - set(self.functions))
            if missing:
                raise ValueError(f"tool specs name functions that are not provided: {', '.join(missing)}")
        self.validate_schema = validate_schema

    @property
    def tools(self) -> list[ToolSpec]:
        return list(self.specs.values())

    async def call(self, tool_call: ToolCall) -> ToolResult:
        name = tool_call.name
        fn = self.functions.get(name) if name in self.specs else None
        if fn is None:
            return error_result("unknown_tool", f"no tool named {name!r}", name)
        try:
            arguments = tool_call.function.parsed_arguments()
        except ValueError as exc:
            return error_result("invalid_arguments", str(exc), name)
        if self.validate_schema:
            violation = schema_violation(self.specs[name].function.parameters, arguments)
            if violation is not None:
                return error_result("schema_violation", violation, name)
        problem = _binding_problem(fn, arguments)
        if problem is not None:
            return error_result("invalid_arguments", f"{name}: {problem}", name)
        try:
            value = fn(**arguments)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:  # the tool's own failure is an answer to the policy, not a crash
            return error_result("tool_exception", f"{type(exc).__name__}: {exc}", name)
        return ToolResult(content=to_json_text(value), source="executed")


def _binding_problem(fn: Callable[..., Any], arguments: dict[str, Any]) -> str | None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no introspectable signature: let the call itself decide
        return None
    try:
        signature.bind(**arguments)
    except TypeError as exc:
        return str(exc)
    return None
