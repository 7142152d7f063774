"""What a tool environment answers, and the error object the judge recognises."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from cm2.llm.protocol import Usage
from cm2.schema.jsontext import loads_bounded

ERROR_KEY = "error_tool_call"
"""The key of the error object: a step whose tool answered with it fails its tool-focused checklist items."""

ResultSource = Literal["replayed", "simulated", "executed", "error"]
ErrorCode = Literal[
    "unknown_tool",
    "invalid_arguments",
    "schema_violation",
    "simulation_failed",
    "tool_exception",
    "tool_failed",
    "malformed_tool_call",
]


class ToolResult(BaseModel):
    """The answer to one tool call, with where it came from and what it cost."""

    content: Annotated[str, Field(description="The JSON text returned to the policy as the tool message.")]
    source: Annotated[
        ResultSource,
        Field(
            description="replayed: recorded in the reference dialogue; simulated: written by an LLM; "
            "executed: returned by real code; error: an error object made by the environment."
        ),
    ]
    error_code: Annotated[ErrorCode | None, Field(description="Set when `source` is 'error'.")] = None
    usage: Annotated[Usage, Field(description="Tokens and cost of the LLM calls made for this answer.")] = Field(
        default_factory=Usage
    )
    attempts: Annotated[int, Field(ge=0, description="LLM calls made for this answer (0 when none).")] = 0
    memoized: Annotated[bool, Field(description="Answered from this episode's memo of earlier calls.")] = False

    @property
    def is_error(self) -> bool:
        return self.source == "error"


def error_object(code: ErrorCode, message: str, tool: str | None = None) -> dict[str, Any]:
    """The error object an environment answers with: `{"error_tool_call": {"code", "message", "tool"?}}`."""
    body: dict[str, Any] = {"code": code, "message": message}
    if tool is not None:
        body["tool"] = tool
    return {ERROR_KEY: body}


def error_result(
    code: ErrorCode, message: str, tool: str | None = None, *, usage: Usage | None = None, attempts: int = 0
) -> ToolResult:
    """A `ToolResult` carrying the error object for `code`."""
    return ToolResult(
        content=json.dumps(error_object(code, message, tool), ensure_ascii=False),
        source="error",
        error_code=code,
        usage=usage or Usage(),
        attempts=attempts,
    )


def tool_error_message(content: str | dict[str, Any] | None) -> str | None:
    """The message of a tool message's error object; None when the content is not one."""
    if not is_tool_error(content):
        return None
    value = content if isinstance(content, dict) else loads_bounded(content or "")
    body = value[ERROR_KEY]
    return str(body.get("message", body)) if isinstance(body, dict) else str(body)


def is_tool_error(content: str | dict[str, Any] | None) -> bool:
    """Whether a tool message's content is the environment's error object (a JSON object keyed `error_tool_call`)."""
    if isinstance(content, dict):
        return ERROR_KEY in content
    if not isinstance(content, str) or ERROR_KEY not in content:
        return False
    try:
        value = loads_bounded(content)
    except json.JSONDecodeError:
        return False
    return isinstance(value, dict) and ERROR_KEY in value
