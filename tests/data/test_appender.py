"""JsonlAppender: durable appends, torn-line recovery, resume keys."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cm2.data.appender import JsonlAppender
from cm2.data.io import iter_records


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_append_and_resume_keys(tmp_path: Path) -> None:
    target = tmp_path / "out" / "done.jsonl"
    with JsonlAppender(target) as out:
        out.write({"uuid": "a", "score": 1})
        out.write({"uuid": "b", "score": 2})
        assert out.keys("uuid") == {"a", "b"}
    assert out.recovered is None
    with JsonlAppender(target) as out:
        assert out.write_many({"uuid": u} for u in ("c", "d")) == 2
    assert [r["uuid"] for r in _lines(target)] == ["a", "b", "c", "d"]
    assert JsonlAppender(target).keys("score") == {1, 2}
    assert JsonlAppender(tmp_path / "none.jsonl").keys("uuid") == set()


def test_torn_last_line_is_cut_and_reported(tmp_path: Path) -> None:
    target = tmp_path / "done.jsonl"
    with JsonlAppender(target) as out:
        for uuid in ("a", "b", "c"):
            out.write({"uuid": uuid, "text": "x" * 100})
    intact = target.stat().st_size
    with open(target, "ab") as handle:
        handle.write(b'{"uuid": "d", "text": "xxxx')  # what a kill -9 mid-write leaves
    with JsonlAppender(target) as out:
        report = out.recovered
        assert report is not None and not report.kept
        assert report.offset == intact and report.dropped == len(b'{"uuid": "d", "text": "xxxx')
        assert "torn" in str(report)
        assert out.keys("uuid") == {"a", "b", "c"}
        out.write({"uuid": "d", "text": "again"})
    assert [r["uuid"] for r in _lines(target)] == ["a", "b", "c", "d"]
    assert all(raw.ok for raw in iter_records(target))


def test_complete_last_record_without_newline_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "done.jsonl"
    target.write_text('{"uuid": "a"}\n{"uuid": "b"}', encoding="utf-8")
    with JsonlAppender(target) as out:
        assert out.recovered is not None and out.recovered.kept
        out.write({"uuid": "c"})
    assert [r["uuid"] for r in _lines(target)] == ["a", "b", "c"]


def test_single_torn_line_file(tmp_path: Path) -> None:
    target = tmp_path / "done.jsonl"
    target.write_bytes(b'{"uuid": "a", "te')
    with JsonlAppender(target) as out:
        assert out.recovered is not None and out.recovered.offset == 0
    assert target.read_bytes() == b""


def test_fsync_every_n(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    with JsonlAppender(tmp_path / "a.jsonl", fsync_every=3) as out:
        calls.clear()
        for n in range(7):
            out.write({"n": n})
        assert len(calls) == 2
    assert len(calls) == 3  # the last record is synced on close
    with pytest.raises(RuntimeError, match="not open"):
        out.write({"n": 8})


_WRITER = """
import sys
from cm2.data.appender import JsonlAppender
with JsonlAppender(sys.argv[1], fsync_every=0) as out:
    n = 0
    while True:
        out.write({"uuid": f"r{n}", "pad": "y" * 5000})
        n += 1
"""


def test_survives_kill_9(tmp_path: Path) -> None:
    target = tmp_path / "killed.jsonl"
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)])
    try:
        deadline = time.monotonic() + 30
        while (not target.exists() or target.stat().st_size < 2_000_000) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with JsonlAppender(target) as out:
        done = out.keys("uuid")
        out.write({"uuid": "after"})
    assert len(done) > 100
    assert all(raw.ok for raw in iter_records(target))
    assert done | {"after"} == {r["uuid"] for r in _lines(target)}
