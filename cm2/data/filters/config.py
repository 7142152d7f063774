"""`FilterConfig`: which rules run and how, loadable from YAML."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from cm2.config import YamlConfig
from cm2.data.filters.registry import RULE_NAMES, unknown_rules


class FilterConfig(YamlConfig):
    """Settings of a rule-filter run."""

    rules: Annotated[list[str], Field(description="Rules to run, by name (default: all of them).")] = Field(
        default_factory=lambda: list(RULE_NAMES)
    )
    require_think: Annotated[
        bool, Field(description="think_tags: every assistant message must hold a <think> block.")
    ] = True
    max_examples: Annotated[int, Field(ge=0, description="Example dialogues kept per rule in the report.")] = 20
    max_reasons: Annotated[int, Field(ge=1, description="Reasons kept per example dialogue.")] = 5
    max_malformed: Annotated[int, Field(ge=0, description="Malformed input locations kept in the report.")] = 1000

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, names: list[str]) -> list[str]:
        unknown = unknown_rules(names)
        if unknown:
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known rules: {', '.join(RULE_NAMES)}")
        return list(dict.fromkeys(names))

    def without(self, names: list[str]) -> FilterConfig:
        """A copy with the named rules switched off (names are checked)."""
        unknown = unknown_rules(names)
        if unknown:
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known rules: {', '.join(RULE_NAMES)}")
        return self.model_copy(update={"rules": [name for name in self.rules if name not in names]})
