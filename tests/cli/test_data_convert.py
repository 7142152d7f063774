"""`cm2 data convert` through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cm2.cli import app
from cm2.data.io import iter_records

runner = CliRunner()


def _records(path: Path) -> list[dict[str, Any]]:
    return [raw.data for raw in iter_records(path) if raw.data is not None]


def _convert(source: Path, target: Path, *options: str) -> list[dict[str, Any]]:
    """Run `cm2 data convert`, check it succeeded, and read back what it wrote."""
    result = runner.invoke(app, ["data", "convert", str(source), str(target), *options])
    assert result.exit_code == 0, result.output
    assert "converted" in result.stdout
    return _records(target)


def test_convert_between_formats(tmp_path: Path, sample_path: Path, sample_records: list[dict[str, Any]]) -> None:
    parquet = tmp_path / "sample.parquet"
    result = runner.invoke(app, ["data", "convert", str(sample_path), str(parquet)])
    assert "converted 1, skipped 0" in result.stdout
    assert _records(parquet) == sample_records
    assert _convert(parquet, tmp_path / "sample_ds", "--to", "hf") == sample_records


def test_convert_record_format(tmp_path: Path, nemotron_records: list[dict[str, Any]]) -> None:
    source = tmp_path / "nemotron.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in nemotron_records), encoding="utf-8")
    as_cm2 = tmp_path / "cm2.json"
    converted = _convert(source, as_cm2, "--as", "cm2")
    assert [r["tools"][0]["function"]["name"] for r in converted] == ["get_weather", "book_table"]
    assert _convert(as_cm2, tmp_path / "back.jsonl", "--as", "nemotron") == nemotron_records


def test_bad_records_are_skipped_and_listed(tmp_path: Path, sample_records: list[dict[str, Any]]) -> None:
    source = tmp_path / "in.jsonl"
    bad = {"uuid": "bad-1", "messages": [{"role": "bot"}]}
    source.write_text(
        "\n".join([json.dumps(sample_records[0]), "{oops", json.dumps(bad)]) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["data", "convert", str(source), str(out)])
    assert result.exit_code == 0, result.output
    assert "converted 1, skipped 2" in result.stdout
    assert f"skipped {source}:2: invalid JSON" in result.stdout
    assert f"skipped {source}:3: dialogue 'bad-1': messages[0].role" in result.stdout
    assert _records(out) == sample_records

    strict_out = tmp_path / "strict.jsonl"
    result = runner.invoke(app, ["data", "convert", str(source), str(strict_out), "--strict"])
    assert result.exit_code == 1
    assert "nothing written" in result.stderr
    assert not strict_out.exists()


def test_unknown_output_suffix(tmp_path: Path, sample_path: Path) -> None:
    result = runner.invoke(app, ["data", "convert", str(sample_path), str(tmp_path / "out.csv")])
    assert result.exit_code == 2
    assert "cannot tell the format" in result.stderr
