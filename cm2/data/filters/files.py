"""Filtering a whole file: the passing records written unchanged (atomically), the report beside them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cm2.data.errors import RecordError
from cm2.data.filters.config import FilterConfig
from cm2.data.filters.report import FilterReport
from cm2.data.filters.runner import run_filters
from cm2.data.io import file_format, iter_records, write_records
from cm2.data.raw import FileFormat


class _NothingKept(Exception):
    """No record passed: the output is not written."""


def default_report_path(target: Path) -> Path:
    """Where the report of a run writing `target` goes unless told: `target` with '.report.json' appended."""
    return target.with_name(target.name + ".report.json")


def nothing_kept_message(report: FilterReport, report_file: Path) -> str | None:
    """The one-line error of a run that kept no record (its output was not written); None when one passed."""
    if report.kept:
        return None
    what = "no records" if not report.total else f"none of its {report.total:,} records passed"
    return f"{report.input}: {what}; nothing written to {report.output} (report: {report_file})"


def filter_file(
    source: Path,
    target: Path,
    report_file: Path,
    config: FilterConfig,
    *,
    in_format: FileFormat | None = None,
    out_format: FileFormat | None = None,
    tick: Callable[[], None] | None = None,
) -> FilterReport:
    """Run the rule filters over `source`, write the passing records to `target` (not created when none
    passed: `report.kept == 0`) and the report to `report_file`. An input that breaks off midway raises a
    `RecordError` saying after how many records, and nothing is written."""
    report = FilterReport.start(config, input=str(source), output=str(target))
    out_format = file_format(target, out_format)  # an unknown suffix is a usage error, not a broken input

    def kept() -> Iterator[dict[str, Any]]:
        for result in run_filters(iter_records(source, in_format), config):
            if tick is not None:
                tick()
            report.add(result)
            if result.kept:
                yield result.record.data
        if not report.kept:  # raised inside the atomic write: the target is not created
            raise _NothingKept

    try:
        write_records(target, kept(), fmt=out_format)
    except _NothingKept:
        pass
    except Exception as exc:  # e.g. a corrupt compressed file: say where we were, leave the target untouched
        where = f"after {report.total:,} records of {source}"
        raise RecordError(where, f"{type(exc).__name__}: {exc}; nothing written to {target}") from None
    report.write(report_file)
    return report
