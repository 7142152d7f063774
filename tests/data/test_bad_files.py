"""Readers on files that are broken as files: one located error, never a traceback from deep inside."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from cm2.data import JsonlAppender, iter_records, read_dialogues
from cm2.data import jsonl as jsonl_module
from cm2.data.errors import UnreadableFileError
from cm2.data.jsonl import dumps_line


def _record(n: int) -> dict[str, object]:
    return {"uuid": f"d{n}", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}


def test_bom_and_crlf_are_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(_record(n)).encode() for n in range(2)) + b"\r\n")
    assert [d.uuid for d in read_dialogues(path)] == ["d0", "d1"]


def test_a_truncated_gzip_stream_raises_naming_the_line(tmp_path: Path) -> None:
    packed = gzip.compress(b"".join(dumps_line(_record(n)) for n in range(200)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(UnreadableFileError, match=r"cut.jsonl.gz:\d+: unreadable file \(EOFError"):
        list(iter_records(path))


def test_a_directory_with_a_file_name_raises(tmp_path: Path) -> None:
    folder = tmp_path / "data.jsonl"
    folder.mkdir()
    with pytest.raises(UnreadableFileError, match=r"data.jsonl: unreadable dataset"):
        list(iter_records(folder))  # an empty folder is taken for a saved dataset
    with pytest.raises(UnreadableFileError, match=r"data.jsonl:1: unreadable file \(IsADirectoryError"):
        list(iter_records(folder, "jsonl"))


@pytest.mark.parametrize("content", [b"", b"PAR1 not really", bytes(range(256)) * 8])
def test_a_corrupt_parquet_file_raises_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(content)
    with pytest.raises(UnreadableFileError, match=r"bad.parquet: unreadable Parquet file"):
        list(iter_records(path))


def test_a_line_over_the_limit_is_a_bad_record_and_the_next_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonl_module, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "huge.jsonl"
    huge = {**_record(0), "pad": "x" * 5000}
    path.write_bytes(dumps_line(huge) + dumps_line(_record(1)))
    records = list(iter_records(path))
    assert records[0].error == "line longer than 1,000 bytes" and records[0].location.endswith("huge.jsonl:1")
    assert records[1].data == _record(1) and records[1].location.endswith("huge.jsonl:2")


def test_refused_json_is_a_bad_record_not_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "refused.jsonl"
    lines = ["[" * 3000 + "]" * 3000, '{"uuid": "x", "w": NaN}', '{"uuid": "\\ud83c"}', json.dumps(_record(3))]
    path.write_text("\n".join(lines) + "\n")
    records = list(iter_records(path))
    assert [r.error is None for r in records] == [False, False, False, True]
    assert "nested deeper" in (records[0].error or "") and "lone UTF-16 surrogate in uuid" in (records[2].error or "")


def test_a_lone_surrogate_from_elsewhere_is_written_escaped_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with JsonlAppender(path) as out:
        out.write({"uuid": "a", "text": "model said \ud83c"})
        out.write({"uuid": "b", "text": "fine"})
    assert b"\\ud83c" in path.read_bytes()
    with JsonlAppender(path) as out:
        assert out.keys("uuid") == {"a", "b"}  # our own outputs are read back leniently (resume)


def test_a_json_array_file_bounds_nesting_per_item(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" + json.dumps(_record(0)) + ", " + "[" * 5000 + "]" * 5000 + "]")
    records = list(iter_records(path))
    assert records[0].data == _record(0)
    assert records[-1].data is None and records[-1].location.startswith(str(path))
