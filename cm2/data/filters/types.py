"""The records the filters pass around: a violation and a rule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cm2.data.filters.config import FilterConfig
    from cm2.data.filters.prepare import Prepared

_JSON_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),
    ((int, float), "a number"),
    (str, "a string"),
    (dict, "an object"),
    ((list, tuple), "an array"),
)


def json_type(value: object) -> str:
    """How JSON would name the type of `value`, with an article: "an object", "a string", "null"…"""
    if value is None:
        return "null"
    for kinds, name in _JSON_TYPES:
        if isinstance(value, kinds):
            return name
    return f"a {type(value).__name__}"


MALFORMED = "malformed"
"""Pseudo-rule name given to input lines that could not be read as a record."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason a dialogue fails a rule; `message` is the index of the offending message, if any."""

    rule: str
    reason: str
    message: int | None = None

    def __str__(self) -> str:
        where = f"message {self.message}: " if self.message is not None else ""
        return f"{self.rule}: {where}{self.reason}"

    @property
    def text(self) -> str:
        """The reason prefixed with the message index (no rule name)."""
        return f"message {self.message}: {self.reason}" if self.message is not None else self.reason


RuleCheck = Callable[["Prepared", "FilterConfig"], list[Violation]]


@dataclass(frozen=True, slots=True)
class Rule:
    """A named, switchable check over one prepared record."""

    name: str
    summary: str
    check: RuleCheck
