"""Tool specifications in the OpenAI function-calling format."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cm2.schema.messages import _Record


class FunctionSpec(_Record):
    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolSpec(_Record):
    """One tool the assistant may call: `{"type": "function", "function": {...}}`."""

    type: Literal["function"] = "function"
    function: FunctionSpec

    @property
    def name(self) -> str:
        return self.function.name
