"""Structured-output dialects and validation."""

from __future__ import annotations

import pytest

from cm2.llm.structured import (
    StructuredOutputError,
    check_schema,
    is_format_rejection,
    json_instruction,
    next_dialect,
    parse_and_validate,
    response_format,
    schema_name,
    with_instruction,
)

SCHEMA = {
    "title": "Verdict of the judge",
    "type": "object",
    "properties": {"analysis": {"type": "string"}, "answer": {"type": "boolean"}},
    "required": ["answer"],
}


def test_response_format_per_dialect() -> None:
    assert response_format("json_schema", SCHEMA, strict=True) == {
        "type": "json_schema",
        "json_schema": {"name": "Verdict_of_the_judge", "schema": SCHEMA, "strict": True},
    }
    assert response_format("json_object_schema", SCHEMA, strict=False) == {"type": "json_object", "schema": SCHEMA}
    assert response_format("plain", SCHEMA, strict=False) is None


def test_schema_name_is_always_acceptable() -> None:
    assert schema_name({}) == "response"
    assert schema_name({"title": "!!!"}) == "response"
    assert len(schema_name({"title": "x" * 100})) == 64


def test_dialect_order() -> None:
    assert next_dialect("json_schema") == "json_object_schema"
    assert next_dialect("json_object_schema") == "plain"
    assert next_dialect("plain") is None


def test_instruction_goes_into_the_last_user_message() -> None:
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "Judge this."}]
    out = with_instruction(messages, SCHEMA)
    assert out[0] == messages[0]
    assert out[1]["content"].startswith("Judge this.\n\n")
    assert '"required": ["answer"]' in out[1]["content"]
    assert messages[1]["content"] == "Judge this."  # the input is not modified
    after_tool = with_instruction([{"role": "tool", "content": "{}"}], SCHEMA)
    assert after_tool[-1]["role"] == "user"
    assert after_tool[-1]["content"] == json_instruction(SCHEMA)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, "response_format.type Input should be 'text' or 'json_object'", True),
        (400, "Unsupported value: 'json_schema'", True),
        (422, "grammar could not be compiled", True),
        (500, "CUDA out of memory", False),
        (400, "context length exceeded", False),
        (503, "response_format overloaded", False),
    ],
)
def test_format_rejection_detection(status: int, body: str, expected: bool) -> None:
    assert is_format_rejection(status, body) is expected


def test_parse_and_validate() -> None:
    assert parse_and_validate('<think>hm</think>```json\n{"answer": true}\n```', SCHEMA) == {"answer": True}
    with pytest.raises(StructuredOutputError, match=r"at answer: 'yes' is not of type 'boolean'"):
        parse_and_validate('{"answer": "yes"}', SCHEMA)
    with pytest.raises(StructuredOutputError, match=r"\(root\).*'answer' is a required property"):
        parse_and_validate('{"analysis": "x"}', SCHEMA)
    with pytest.raises(StructuredOutputError, match="no JSON object"):
        parse_and_validate("I think the answer is yes.", SCHEMA)


def test_invalid_schema_is_reported() -> None:
    with pytest.raises(StructuredOutputError, match="invalid JSON schema"):
        check_schema({"type": "nonsense"})
    check_schema(SCHEMA)
