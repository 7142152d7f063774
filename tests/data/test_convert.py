"""`convert_file` and `filter_file` on real files: bad records skipped and listed, nothing written when nothing
was usable or (strict) at the first bad record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cm2.data.convert import convert_file
from cm2.data.errors import NoUsableRecordsError, RecordError
from cm2.data.filters import FilterConfig
from cm2.data.filters.files import default_report_path, filter_file, nothing_kept_message
from cm2.data.io import iter_records


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_convert_file_skips_and_lists_bad_records(tmp_path: Path, sample_records: list[dict[str, Any]]) -> None:
    source = _write(tmp_path / "in.jsonl", [json.dumps(sample_records[0]), "{oops"])
    ticks: list[int] = []
    written, skipped = convert_file(source, tmp_path / "out.parquet", tick=lambda: ticks.append(1))
    assert (written, len(ticks)) == (1, 2)
    assert skipped == [(f"{source}:2", skipped[0][1])] and "invalid JSON" in skipped[0][1]
    assert [raw.data for raw in iter_records(tmp_path / "out.parquet")] == sample_records[:1]


def test_convert_file_writes_nothing_when_strict_or_nothing_is_usable(
    tmp_path: Path, sample_records: list[dict[str, Any]]
) -> None:
    mixed = _write(tmp_path / "in.jsonl", [json.dumps(sample_records[0]), "{oops"])
    with pytest.raises(RecordError, match=r"in.jsonl:2: .*nothing written \(--strict\)"):
        convert_file(mixed, tmp_path / "strict.jsonl", strict=True)
    assert not (tmp_path / "strict.jsonl").exists()
    with pytest.raises(NoUsableRecordsError, match="nothing usable"):
        convert_file(_write(tmp_path / "bad.jsonl", ["{oops"]), tmp_path / "none.jsonl")
    assert not (tmp_path / "none.jsonl").exists()


def test_filter_file_writes_the_report_even_when_nothing_passes(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.jsonl", ["{oops", "42"])
    target, report_file = tmp_path / "out.jsonl", tmp_path / "report.json"
    report = filter_file(source, target, report_file, FilterConfig())
    assert (report.total, report.kept, report.malformed) == (2, 0, 2)
    assert not target.exists() and json.loads(report_file.read_text())["malformed"] == 2
    assert nothing_kept_message(report, report_file) == (
        f"{source}: none of its 2 records passed; nothing written to {target} (report: {report_file})"
    )
    assert default_report_path(target) == tmp_path / "out.jsonl.report.json"
