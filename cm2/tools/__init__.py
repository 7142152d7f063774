"""Tool environments: the hybrid simulator, executable Python tools, an MCP server."""

from cm2.tools.canonical import call_key, canonical_json
from cm2.tools.environment import EnvironmentFactory, ReportsState, ToolEnvironment
from cm2.tools.python_tools import PythonTools, public_methods, to_json_text
from cm2.tools.recorded import RecordedCall, RecordedIndex, recorded_calls
from cm2.tools.result import (
    ERROR_KEY,
    ErrorCode,
    ResultSource,
    ToolResult,
    error_object,
    error_result,
    is_tool_error,
    tool_error_message,
)
from cm2.tools.schema_check import schema_violation, validator_for
from cm2.tools.signature import spec_from_callable
from cm2.tools.simulator import HybridToolSimulator, SimulatorConfig, ToolBook

__all__ = [
    "ERROR_KEY",
    "EnvironmentFactory",
    "ErrorCode",
    "HybridToolSimulator",
    "PythonTools",
    "RecordedCall",
    "RecordedIndex",
    "ReportsState",
    "ResultSource",
    "SimulatorConfig",
    "ToolBook",
    "ToolEnvironment",
    "ToolResult",
    "call_key",
    "canonical_json",
    "error_object",
    "error_result",
    "is_tool_error",
    "public_methods",
    "recorded_calls",
    "schema_violation",
    "spec_from_callable",
    "to_json_text",
    "tool_error_message",
    "validator_for",
]
