"""Streaming keeps memory bounded: 300k dialogues through JSONL → Parquet → JSONL (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "io_memory.py"
RECORDS = 300_000
MAX_GROWTH_MB = 300.0


@pytest.mark.slow
def test_streaming_memory_is_bounded(tmp_path: Path) -> None:
    command = [sys.executable, str(BENCHMARK), "--records", str(RECORDS), "--no-baseline", "--json"]
    command += ["--workdir", str(tmp_path)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=1800)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    phases = {result["phase"]: result for result in report["results"]}
    assert set(phases) == {"generate", "to_parquet", "to_jsonl"}
    for result in phases.values():
        assert result["records"] == RECORDS and result["problems"] == 0
        # each phase runs in its own process; growth is its peak RSS above its post-import RSS
        assert result["growth_mb"] < MAX_GROWTH_MB, result
    assert phases["generate"]["output_mb"] > MAX_GROWTH_MB  # holding the file alone would break the bound
    assert report["identical"] and report["equal"]
