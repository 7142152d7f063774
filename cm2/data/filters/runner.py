"""Running the enabled rules over a stream of records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from cm2.data.filters.config import FilterConfig
from cm2.data.filters.prepare import prepare
from cm2.data.filters.registry import RULES
from cm2.data.filters.types import MALFORMED, RuleCheck, Violation


class FilterResult(NamedTuple):
    """One input record (as given) with every violation found; kept when there are none."""

    record: Any
    violations: list[Violation]
    location: str
    id: str

    @property
    def kept(self) -> bool:
        return not self.violations

    @property
    def malformed(self) -> bool:
        """The input could not be read as a record at all (bad JSON line, unreadable row)."""
        return bool(self.violations) and self.violations[0].rule == MALFORMED


def _unpack(item: Any, position: int) -> tuple[str, Any, str | None]:
    """(location, data, error) of a plain dict or of a RawRecord-like object."""
    if not isinstance(item, dict) and hasattr(item, "location") and hasattr(item, "data"):
        return str(item.location), item.data, getattr(item, "error", None)
    return f"record {position}", item, None


def _checks(config: FilterConfig) -> list[tuple[str, RuleCheck]]:
    return [(name, RULES[name].check) for name in config.rules]


def _apply(
    checks: list[tuple[str, RuleCheck]], data: Any, location: str, config: FilterConfig
) -> tuple[str, list[Violation]]:
    rec = prepare(data, location)
    violations: list[Violation] = []
    for name, check in checks:
        try:
            found = check(rec, config)
        except Exception as exc:  # a rule bug must not stop a 300k-record run; it shows up in the report
            found = [Violation(name, f"rule crashed: {type(exc).__name__}: {exc}")]
        if found:
            violations += found
    return rec.id, violations


def run_filters(records: Iterable[Any], config: FilterConfig | None = None) -> Iterator[FilterResult]:
    """Check each record (a raw dict, or a RawRecord-like object with `location`, `data`, `error`).

    Yields one `FilterResult` per input in order; unreadable inputs (an `error` is set) come back with
    a single `malformed` violation. Never raises on bad records.
    """
    config = config or FilterConfig()
    checks = _checks(config)
    for position, item in enumerate(records):
        location, data, error = _unpack(item, position)
        if error is not None:
            yield FilterResult(item, [Violation(MALFORMED, str(error))], location, location)
            continue
        record_id, violations = _apply(checks, data, location, config)
        yield FilterResult(item, violations, location, record_id)


def check_record(data: Any, config: FilterConfig | None = None, location: str = "record") -> list[Violation]:
    """Every violation of one raw record dict under `config` (all rules by default)."""
    config = config or FilterConfig()
    return _apply(_checks(config), data, location, config)[1]
