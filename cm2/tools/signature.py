"""Tool specs derived from a Python callable's signature and docstring."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import docstring_parser
from pydantic import TypeAdapter

from cm2.schema import FunctionSpec, ToolSpec

_SKIPPED_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def _type_schema(annotation: Any) -> dict[str, Any]:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    try:
        schema = TypeAdapter(annotation).json_schema()
    except Exception:  # a type pydantic cannot describe: leave it unconstrained
        return {}
    return dict(_strip_titles(schema))


def _json_default(value: Any) -> tuple[bool, Any]:
    if value is None or isinstance(value, bool | int | float | str):
        return True, value
    if isinstance(value, list | tuple) and all(v is None or isinstance(v, bool | int | float | str) for v in value):
        return True, list(value)
    return False, None


def spec_from_callable(name: str, fn: Callable[..., Any]) -> ToolSpec:
    """A function-calling spec for `fn`: parameters from its signature (types via pydantic), descriptions
    from its docstring (Google, NumPy, reST or Epydoc style)."""
    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    described = {param.arg_name: param.description or "" for param in doc.params}
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable string annotations: fall back to the raw ones
        hints = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in _SKIPPED_KINDS or param.name in ("self", "cls"):
            continue
        schema = _type_schema(hints.get(param.name, param.annotation))
        if described.get(param.name):
            schema["description"] = described[param.name]
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        else:
            ok, default = _json_default(param.default)
            if ok:
                schema["default"] = default
        properties[param.name] = schema
    description = "\n\n".join(part for part in (doc.short_description, doc.long_description) if part)
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    return ToolSpec(function=FunctionSpec(name=name, description=description, parameters=parameters))
