"""Reading and writing every file format, streaming, atomicity and error reporting."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cm2.data.adapters import convert_record, to_cm2, to_nemotron
from cm2.data.errors import RecordError
from cm2.data.io import count_records, file_format, iter_records, read_dialogues, write_records
from cm2.data.jsonarray import iter_json

FORMATS = [("jsonl", "out.jsonl"), ("json", "out.json"), ("parquet", "out.parquet"), ("hf", "out_ds")]


def _read(path: Path, fmt: str | None = None) -> list[dict[str, Any]]:
    records = []
    for raw in iter_records(path, fmt):
        assert raw.error is None, raw
        assert raw.data is not None
        records.append(raw.data)
    return records


@pytest.mark.parametrize(("fmt", "name"), FORMATS)
def test_sample_round_trip(tmp_path: Path, sample_records: list[dict[str, Any]], fmt: str, name: str) -> None:
    target = tmp_path / name
    assert write_records(target, sample_records) == len(sample_records)
    assert file_format(target) == fmt
    assert _read(target) == sample_records
    assert [to_cm2(d) for d in read_dialogues(target)] == sample_records


@pytest.mark.parametrize(("fmt", "name"), FORMATS)
def test_nemotron_round_trip(tmp_path: Path, nemotron_records: list[dict[str, Any]], fmt: str, name: str) -> None:
    target = tmp_path / name
    write_records(target, nemotron_records, fmt=fmt)
    assert _read(target, fmt) == nemotron_records
    assert [to_nemotron(d) for d in read_dialogues(target, fmt)] == nemotron_records


def test_gzip_jsonl_and_sample_reading(tmp_path: Path, sample_path: Path, sample_records: list[dict[str, Any]]) -> None:
    assert _read(sample_path) == sample_records
    target = tmp_path / "out.jsonl.gz"
    write_records(target, sample_records)
    assert target.read_bytes()[:2] == b"\x1f\x8b"
    assert _read(target) == sample_records


def test_malformed_jsonl_lines_are_reported_and_skipped(
    tmp_path: Path, sample_records: list[dict[str, Any]], nemotron_records: list[dict[str, Any]]
) -> None:
    bad_dialogue = {"uuid": "bad-1", "messages": [{"role": "bot", "content": "?"}]}
    lines = [
        json.dumps(sample_records[0]),
        '{"uuid": "torn", "messages": [',
        "",
        "[1, 2, 3]",
        json.dumps(bad_dialogue),
        json.dumps(nemotron_records[0]),
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    raws = list(iter_records(source))
    assert [raw.location for raw in raws] == [f"{source}:{n}" for n in (1, 2, 4, 5, 6)]
    assert raws[1].data is None and raws[1].error is not None and "invalid JSON" in raws[1].error
    assert raws[2].error == "a JSON list, not an object"

    problems: list[tuple[str, str]] = []
    dialogues = list(read_dialogues(source, errors=problems))
    assert [d.uuid for d in dialogues] == [sample_records[0]["uuid"], "nem-0001"]
    assert [location for location, _ in problems] == [f"{source}:2", f"{source}:4", f"{source}:5"]
    assert "dialogue 'bad-1'" in problems[2][1] and "messages[0].role" in problems[2][1]

    with pytest.raises(RecordError) as caught:
        list(read_dialogues(source))
    assert caught.value.location == f"{source}:2"


def test_json_array_streams_and_falls_back(tmp_path: Path, nemotron_records: list[dict[str, Any]]) -> None:
    target = tmp_path / "records.json"
    write_records(target, nemotron_records)
    assert json.loads(target.read_text(encoding="utf-8")) == nemotron_records
    assert [raw.data for raw in iter_json(target, stream=False)] == nemotron_records
    pytest.importorskip("ijson")
    assert [raw.data for raw in iter_json(target, stream=True)] == nemotron_records
    single = tmp_path / "one.json"
    single.write_text(json.dumps(nemotron_records[0]), encoding="utf-8")
    assert _read(single) == nemotron_records[:1]
    lines = tmp_path / "lines.json"
    lines.write_text("".join(json.dumps(r) + "\n" for r in nemotron_records), encoding="utf-8")
    assert _read(lines) == nemotron_records


def test_truncated_json_array_keeps_what_came_before(tmp_path: Path, nemotron_records: list[dict[str, Any]]) -> None:
    target = tmp_path / "cut.json"
    text = json.dumps(nemotron_records)
    target.write_text(text[: len(text) - 40], encoding="utf-8")
    (loaded,) = iter_json(target, stream=False)  # loading whole, nothing can be kept
    assert loaded.data is None and loaded.location == str(target)
    pytest.importorskip("ijson")
    raws = list(iter_json(target, stream=True))
    assert raws[0].data == nemotron_records[0]
    assert raws[-1].data is None and raws[-1].location == f"{target}[1]"
    assert raws[-1].error is not None and "invalid JSON" in raws[-1].error


def test_parquet_nested_values_and_changing_keys_round_trip(tmp_path: Path) -> None:
    from cm2.data.parquet import write_parquet

    records: list[dict[str, Any]] = [
        {"uuid": "a", "n": 1, "args": '{"x": 1}'},
        {"uuid": "b", "n": 2, "args": {"x": 1}},
        {"uuid": "c", "n": 2**70, "args": None, "new": [1, {"k": None}]},
        {"n": "three", "flag": True},
        {"uuid": None, "score": 0.5, "__cm2_extra__": "mine"},
    ]
    target = tmp_path / "mixed.parquet"
    write_parquet(target, records, batch_size=2)
    assert _read(target) == records
    assert pq.ParquetFile(target).metadata.num_row_groups == 3
    assert count_records(target) == len(records)


def test_foreign_parquet_with_nested_columns(tmp_path: Path, nemotron_records: list[dict[str, Any]]) -> None:
    """A file laid out as on the dataset hub: messages as list<struct>, tools inside a metadata string."""
    record = nemotron_records[0]
    table = pa.Table.from_pylist([record, {**record, "uuid": "nem-0003"}])
    assert pa.types.is_list(table.schema.field("messages").type)
    shard_dir = tmp_path / "hub" / "data"
    shard_dir.mkdir(parents=True)
    pq.write_table(table.slice(0, 1), shard_dir / "tool-00000.parquet")
    pq.write_table(table.slice(1, 1), shard_dir / "tool-00001.parquet")
    assert file_format(tmp_path / "hub") == "parquet"
    dialogues = list(read_dialogues(tmp_path / "hub"))
    assert [d.uuid for d in dialogues] == ["nem-0001", "nem-0003"]
    assert to_nemotron(dialogues[0]) == record
    assert count_records(tmp_path / "hub") == 2


def test_hf_dataset_saved_by_datasets_itself(tmp_path: Path, nemotron_records: list[dict[str, Any]]) -> None:
    import datasets

    record = nemotron_records[0]
    splits = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([record]),
            "test": datasets.Dataset.from_list([{**record, "uuid": "nem-0009"}]),
        }
    )
    splits.save_to_disk(str(tmp_path / "dd"))
    raws = list(iter_records(tmp_path / "dd"))
    assert [raw.location for raw in raws] == [f"{tmp_path / 'dd'}[train]#row 0", f"{tmp_path / 'dd'}[test]#row 0"]
    assert convert_record(raws[0].data or {}) == record
    assert count_records(tmp_path / "dd") == 2


def test_writes_are_atomic(tmp_path: Path, sample_records: list[dict[str, Any]]) -> None:
    def failing() -> Iterator[dict[str, Any]]:
        yield sample_records[0]
        raise RuntimeError("boom")

    for name in ("keep.jsonl", "keep.json", "keep.parquet", "keep_ds"):
        target = tmp_path / name
        write_records(target, sample_records)
        before = _read(target)
        with pytest.raises(RuntimeError, match="boom"):
            write_records(target, failing())
        assert _read(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.json", "keep.jsonl", "keep.parquet", "keep_ds"]


def test_empty_inputs_and_overwrite(tmp_path: Path, sample_records: list[dict[str, Any]]) -> None:
    for name in ("empty.jsonl", "empty.json", "empty.parquet", "empty_ds"):
        target = tmp_path / name
        assert write_records(target, []) == 0
        assert _read(target) == []
        assert write_records(target, sample_records) == 1
        assert _read(target) == sample_records


def test_format_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot tell the format"):
        file_format(tmp_path / "data.csv")
    with pytest.raises(ValueError, match="unknown format"):
        file_format(tmp_path / "x.jsonl", "csv")
    with pytest.raises(FileNotFoundError):
        iter_records(tmp_path / "missing.jsonl")
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="neither"):
        file_format(tmp_path / "stuff")
