"""`cm2 data filter` through the real CLI app, on real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cm2.cli import app
from cm2.data.io import iter_records
from cm2.data.synthetic import synthetic_dialogue

runner = CliRunner()


def _write_input(path: Path, sample: dict[str, Any]) -> list[dict[str, Any]]:
    """Sample, two valid synthetic dialogues, three defective ones and two malformed lines (3 and 6)."""
    records = [
        sample,
        synthetic_dialogue(0),
        synthetic_dialogue(1, defect="missing_think"),
        synthetic_dialogue(2, defect="tool_response_plain_text"),
        synthetic_dialogue(3),
        synthetic_dialogue(4, defect="duplicate_tool_name"),
    ]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines.insert(2, '{"uuid": "cut-off", "messages": [')
    lines.insert(5, "42")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return records


def _kept(path: Path) -> list[dict[str, Any]]:
    return [raw.data for raw in iter_records(path) if raw.data is not None]


def test_filter_writes_kept_records_and_report(tmp_path: Path, sample_records: list[dict[str, Any]]) -> None:
    source, target, report_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "report.json"
    records = _write_input(source, sample_records[0])
    result = runner.invoke(app, ["data", "filter", str(source), str(target), "--report", str(report_path)])
    assert result.exit_code == 0, result.output
    assert _kept(target) == [records[0], records[1], records[4]]  # unchanged, in order

    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert (report["total"], report["kept"], report["rejected"], report["malformed"]) == (8, 3, 3, 2)
    assert [m["location"] for m in report["malformed_inputs"]] == [f"{source}:3", f"{source}:6"]
    rejected = {name: stats["rejected"] for name, stats in report["rules"].items()}
    assert rejected["think_tags"] == 1 and rejected["tool_response_not_json"] == 1 and rejected["duplicate_tools"] == 1
    assert report["rules"]["think_tags"]["examples"][0]["location"] == f"{source}:4"

    out = result.stdout
    assert "think_tags" in out and "tool_response_not_json" in out
    assert "total 8  kept 3  rejected 3  malformed 2" in out
    assert f"malformed {source}:3: invalid JSON" in out
    assert f"malformed {source}:6: " in out


def test_rule_switches_and_config_file(tmp_path: Path, sample_records: list[dict[str, Any]]) -> None:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.json"
    records = _write_input(source, sample_records[0])

    result = runner.invoke(app, ["data", "filter", str(source), str(target), "--disable", "think_tags,duplicate_tools"])
    assert result.exit_code == 0, result.output
    assert len(_kept(target)) == 5
    report = json.loads((tmp_path / "out.json.report.json").read_text(encoding="utf-8"))
    assert "think_tags" not in report["rules"] and report["kept"] == 5

    result = runner.invoke(app, ["data", "filter", str(source), str(target), "--no-require-think"])
    assert result.exit_code == 0, result.output
    assert records[2] in _kept(target)  # the missing think block is allowed now

    config = tmp_path / "filter.yaml"
    config.write_text("rules: [tool_response_not_json]\nmax_examples: 1\n", encoding="utf-8")
    result = runner.invoke(app, ["data", "filter", str(source), str(target), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert len(_kept(target)) == 5

    result = runner.invoke(app, ["data", "filter", str(source), str(target), "--rules", "role_order,duplicate_tools"])
    assert result.exit_code == 0, result.output
    assert records[5] not in _kept(target) and len(_kept(target)) == 5


def test_bad_options_exit_with_a_clear_error(tmp_path: Path, sample_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["data", "filter", str(sample_path), str(target), "--rules", "think_tags,nope"])
    assert result.exit_code == 2
    assert "unknown rule(s) nope" in result.output
    result = runner.invoke(app, ["data", "filter", str(sample_path), str(target), "--disable", "nope"])
    assert result.exit_code == 2 and "unknown rule(s) nope" in result.output
    assert not target.exists()


def test_released_sample_is_kept(tmp_path: Path, sample_path: Path, sample_records: list[dict[str, Any]]) -> None:
    target = tmp_path / "kept.jsonl"
    result = runner.invoke(app, ["data", "filter", str(sample_path), str(target)])
    assert result.exit_code == 0, result.output
    assert _kept(target) == sample_records


def test_unreadable_input_stops_cleanly_and_writes_nothing(tmp_path: Path) -> None:
    import gzip

    lines = "".join(json.dumps(synthetic_dialogue(n)) + "\n" for n in range(30)).encode("utf-8")
    packed = gzip.compress(lines)
    source = tmp_path / "cut.jsonl.gz"
    source.write_bytes(packed[: len(packed) // 2])  # a download that stopped halfway
    target = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["data", "filter", str(source), str(target)])
    assert result.exit_code == 1
    assert "EOFError" in result.output and "nothing written" in result.output
    assert not target.exists()


def test_a_lone_surrogate_or_deep_record_is_left_out_and_the_run_goes_on(tmp_path: Path) -> None:
    lines = [json.dumps(synthetic_dialogue(n)) for n in range(60)]
    lines[47] = lines[47].replace('"content": "', '"content": "\\ud83c', 1)
    lines[50] = "[" * 3000 + "]" * 3000
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    target = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["data", "filter", str(source), str(target), "--no-require-think"])
    assert result.exit_code == 0, result.output
    assert len(_kept(target)) == 58
    assert "in.jsonl:48: refused JSON (a lone UTF-16 surrogate in messages" in result.output
    assert "in.jsonl:51: refused JSON (nested deeper than 128 levels)" in result.output


def test_unsound_checklists_are_rejected_and_nothing_kept_exits_1(tmp_path: Path, sample_path: Path) -> None:
    record = json.loads(sample_path.read_text())[0]
    for item in record["checklists"][0][0]:
        item["weight"] = 5.4 / len(record["checklists"][0][0])
    source = tmp_path / "weights.jsonl"
    source.write_text(json.dumps(record) + "\n")
    target = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["data", "filter", str(source), str(target)])
    assert result.exit_code == 1 and not target.exists()
    assert (
        "weights sum to 5.4"
        in json.loads((tmp_path / "out.jsonl.report.json").read_text())["rules"]["checklists"]["examples"][0][
            "reasons"
        ][0]
    )
    assert "nothing written to" in result.output
