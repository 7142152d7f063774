"""Rule-based dialogue filters: each rule is switchable by name; `run_filters` streams records through them.

Rules: structure, tool_schema, role_order, tool_call_response_mismatch, tool_response_in_assistant,
tool_response_not_json, duplicate_tools, think_tags, checklists (see `RULES` for one-line summaries).
"""

from cm2.data.filters.config import FilterConfig
from cm2.data.filters.prepare import Prepared, prepare
from cm2.data.filters.registry import RULE_NAMES, RULES
from cm2.data.filters.report import FilterReport, MalformedInput, RuleExample, RuleStats
from cm2.data.filters.runner import FilterResult, check_record, run_filters
from cm2.data.filters.types import MALFORMED, Rule, Violation

__all__ = [
    "MALFORMED",
    "RULES",
    "RULE_NAMES",
    "FilterConfig",
    "FilterReport",
    "FilterResult",
    "MalformedInput",
    "Prepared",
    "Rule",
    "RuleExample",
    "RuleStats",
    "Violation",
    "check_record",
    "prepare",
    "run_filters",
]
