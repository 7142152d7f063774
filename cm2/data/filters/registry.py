"""Every rule by name, in report order."""

from __future__ import annotations

from cm2.data.filters.rules_calls import (
    TOOL_CALL_RESPONSE_MISMATCH,
    TOOL_RESPONSE_IN_ASSISTANT,
    TOOL_RESPONSE_NOT_JSON,
)
from cm2.data.filters.rules_checklists import CHECKLISTS
from cm2.data.filters.rules_schema import DUPLICATE_TOOLS, TOOL_SCHEMA
from cm2.data.filters.rules_structure import ROLE_ORDER, STRUCTURE
from cm2.data.filters.rules_think import THINK_TAGS
from cm2.data.filters.types import Rule

RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        STRUCTURE,
        TOOL_SCHEMA,
        ROLE_ORDER,
        TOOL_CALL_RESPONSE_MISMATCH,
        TOOL_RESPONSE_IN_ASSISTANT,
        TOOL_RESPONSE_NOT_JSON,
        DUPLICATE_TOOLS,
        THINK_TAGS,
        CHECKLISTS,
    )
}
RULE_NAMES: tuple[str, ...] = tuple(RULES)


def unknown_rules(names: list[str]) -> list[str]:
    """The names that are not rules."""
    return [name for name in names if name not in RULES]
