"""`FilterReport`: what a filter run kept and rejected, per rule, with examples; written as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from cm2.data.atomic import atomic_file
from cm2.data.filters.config import FilterConfig
from cm2.data.filters.runner import FilterResult


class RuleExample(BaseModel):
    """One rejected dialogue and why this rule rejected it."""

    id: str
    location: str
    reasons: list[str]


class RuleStats(BaseModel):
    """How many dialogues a rule rejected (a dialogue can count under several rules)."""

    rejected: int = 0
    examples: list[RuleExample] = Field(default_factory=list)

    @property
    def first_example(self) -> str:
        """The first reason of the first example ("" when none)."""
        return self.examples[0].reasons[0] if self.examples and self.examples[0].reasons else ""


class MalformedInput(BaseModel):
    """An input that could not be read as a record."""

    location: str
    error: str


class FilterReport(BaseModel):
    """Totals of a filter run: `total = kept + rejected + malformed`."""

    input: Annotated[str | None, Field(description="Input path, when run on a file.")] = None
    output: Annotated[str | None, Field(description="Where the kept records were written.")] = None
    total: int = 0
    kept: int = 0
    rejected: int = 0
    malformed: int = 0
    malformed_inputs: Annotated[
        list[MalformedInput], Field(description="Locations of malformed inputs (up to config.max_malformed).")
    ] = Field(default_factory=list)
    rules: Annotated[
        dict[str, RuleStats], Field(description="Per enabled rule: rejections (overlaps allowed) and examples.")
    ] = Field(default_factory=dict)
    config: FilterConfig = Field(default_factory=FilterConfig)

    @classmethod
    def start(cls, config: FilterConfig, *, input: str | None = None, output: str | None = None) -> FilterReport:
        """An empty report listing every enabled rule with zero rejections."""
        return cls(input=input, output=output, config=config, rules={name: RuleStats() for name in config.rules})

    def add(self, result: FilterResult) -> None:
        """Count one result."""
        self.total += 1
        if result.malformed:
            self.malformed += 1
            if len(self.malformed_inputs) < self.config.max_malformed:
                self.malformed_inputs.append(
                    MalformedInput(location=result.location, error=result.violations[0].reason)
                )
            return
        if not result.violations:
            self.kept += 1
            return
        self.rejected += 1
        reasons: dict[str, list[str]] = {}
        for violation in result.violations:
            reasons.setdefault(violation.rule, []).append(violation.text)
        limit = self.config.max_reasons
        for rule, texts in reasons.items():
            stats = self.rules.setdefault(rule, RuleStats())
            stats.rejected += 1
            if len(stats.examples) < self.config.max_examples:
                shown = texts[:limit] + ([f"… and {len(texts) - limit} more"] if len(texts) > limit else [])
                stats.examples.append(RuleExample(id=result.id, location=result.location, reasons=shown))

    def table(self) -> tuple[str, list[str], list[list[str]]]:
        """Title, columns and rows of the per-rule summary a person reads."""
        checked = self.kept + self.rejected
        rows = [
            [name, f"{rule.rejected:,}", f"{rule.rejected / checked:.1%}" if checked else "-", rule.first_example]
            for name, rule in self.rules.items()
        ]
        return f"rule filters: {self.input}", ["rule", "rejected", "share", "first example"], rows

    def totals(self) -> str:
        """The totals on one line."""
        return (
            f"total {self.total:,}  kept {self.kept:,}  rejected {self.rejected:,}  malformed {self.malformed:,}"
            f" → {self.output}"
        )

    def write(self, path: str | Path) -> None:
        """Write as indented JSON, atomically (temp file beside `path`, then rename)."""
        with atomic_file(path) as temp:
            temp.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
