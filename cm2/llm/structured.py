"""Structured (JSON) output: the request dialects servers understand, and checking what comes back."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any, Literal

import jsonschema

from cm2.llm.jsonx import JSONExtractionError, extract_json, schema_kind

Dialect = Literal["json_schema", "json_object_schema", "plain"]
DialectChoice = Literal["auto", "json_schema", "json_object_schema", "plain"]

#: The order `auto` walks when a server rejects a `response_format`.
DIALECT_ORDER: tuple[Dialect, ...] = ("json_schema", "json_object_schema", "plain")

_NAME_OK = re.compile(r"[^a-zA-Z0-9_-]+")
# Words a server's error names when what it rejects is the response_format (llama.cpp, vLLM, hosted APIs).
_FORMAT_WORDS = re.compile(r"response_format|json_schema|json_object|schema|grammar|structured", re.IGNORECASE)


class StructuredOutputError(ValueError):
    """The answer is not JSON, or does not satisfy the schema."""


@cache
def _instruction_template() -> str:
    return resources.files("cm2.llm").joinpath("prompts/json_instruction.txt").read_text(encoding="utf-8")


def json_instruction(schema: dict[str, Any]) -> str:
    """The text appended to a prompt asking for JSON that satisfies `schema` (the `plain` dialect)."""
    return _instruction_template().strip().replace("{schema}", json.dumps(schema, ensure_ascii=False))


def with_instruction(messages: list[dict[str, Any]], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A copy of `messages` whose last user message ends with the JSON instruction (or a new user message)."""
    out = [dict(m) for m in messages]
    text = json_instruction(schema)
    if out and out[-1].get("role") == "user" and isinstance(out[-1].get("content"), str):
        out[-1]["content"] = out[-1]["content"].rstrip() + "\n\n" + text
    else:
        out.append({"role": "user", "content": text})
    return out


def schema_name(schema: dict[str, Any]) -> str:
    """A name OpenAI accepts (`^[a-zA-Z0-9_-]{1,64}$`), from the schema's title when it has one."""
    title = schema.get("title")
    name = _NAME_OK.sub("_", title).strip("_") if isinstance(title, str) else ""
    return (name or "response")[:64]


def response_format(dialect: Dialect, schema: dict[str, Any], strict: bool) -> dict[str, Any] | None:
    """The `response_format` body field for `dialect` (None for `plain`)."""
    if dialect == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": schema_name(schema), "schema": schema, "strict": strict}}
    if dialect == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    return None


def next_dialect(dialect: Dialect) -> Dialect | None:
    """The dialect to try after `dialect` was rejected, or None at the end of the line."""
    index = DIALECT_ORDER.index(dialect)
    return DIALECT_ORDER[index + 1] if index + 1 < len(DIALECT_ORDER) else None


def is_format_rejection(status: int, body: str) -> bool:
    """Whether an HTTP error looks like the server refusing the `response_format` we sent."""
    return status in (400, 422, 500) and bool(_FORMAT_WORDS.search(body))


def check_schema(schema: dict[str, Any]) -> None:
    """Raise StructuredOutputError when `schema` itself is not a valid JSON schema (a caller bug)."""
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise StructuredOutputError(f"invalid JSON schema: {exc.message}") from exc


def parse_and_validate(text: str, schema: dict[str, Any]) -> Any:
    """Extract the JSON answer from `text` and validate it against `schema`.

    Raises StructuredOutputError naming what went wrong (no JSON, or the first schema violation and where).
    """
    try:
        value = extract_json(text, schema_kind(schema))
    except JSONExtractionError as exc:
        raise StructuredOutputError(str(exc)) from exc
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise StructuredOutputError(f"JSON answer violates the schema at {where}: {error.message}")
    return value


def parse_answer(text: str, finish_reason: str | None, schema: dict[str, Any]) -> Any:
    """`parse_and_validate` for a model's answer; one cut off by the length limit is refused even when it parses."""
    if finish_reason == "length":
        raise StructuredOutputError("the answer was cut off (finish_reason=length)")
    return parse_and_validate(text, schema)
