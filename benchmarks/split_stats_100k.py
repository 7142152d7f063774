"""Wall time and peak memory of `cm2 data split` and `cm2 data stats` on a large synthetic pool.

    .venv/bin/python benchmarks/split_stats_100k.py [--n 100000] [--tokenizer HF_DIR] [--keep DIR]

Writes `n` synthetic dialogues (`cm2.data.synthetic`) as JSONL, then runs, each as its own process:
a baseline that only reads the file as dialogues (`read_dialogues`: JSON parsing and validation), the
paper-sized split (8000 cold start, 8000 RL, 500 hold-out) and the statistics with PNG histograms.
Prints each one's wall time, CPU time (user + system; the figure to compare on a shared machine),
CPU time as a multiple of the read baseline (the split reads the file twice, the second time without
validation) and peak resident memory. With `--keep`, an existing pool of the right size is reused.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cm2.data.io import write_records
from cm2.data.synthetic import synthetic_dialogues

READ_ONLY = "import sys; from cm2.data.io import read_dialogues; print(sum(1 for _ in read_dialogues(sys.argv[1])))"


def timed(command: list[str]) -> tuple[float, float, float]:
    """Run `command`; return (wall seconds, CPU seconds, peak RSS in MiB) of that process alone."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def line_count(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--tokenizer", default="approx", help="passed to `cm2 data stats --tokenizer`")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep the files (default: a temp dir)")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="cm2-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    pool = work / "pool.jsonl"
    start = time.perf_counter()
    if not (pool.exists() and line_count(pool) == args.n):
        write_records(pool, (item.record for item in synthetic_dialogues(args.n, seed=0)))
    size = pool.stat().st_size / 2**20
    print(f"{args.n:,} synthetic dialogues, {size:,.0f} MiB JSONL, ready in {time.perf_counter() - start:.1f} s")

    script = Path(sys.executable).with_name("cm2")
    cli = [str(script)] if script.exists() else [sys.executable, "-c", "from cm2.cli import main; main()"]
    runs = {
        "read baseline": [sys.executable, "-c", READ_ONLY, str(pool)],
        "cm2 data split": [*cli, "data", "split", str(pool), str(work / "split"), "--seed", "0"],
        "cm2 data stats": [
            *cli,
            "data",
            "stats",
            str(pool),
            "--out",
            str(work / "stats"),
            "--tokenizer",
            args.tokenizer,
        ],
    }
    results = {name: timed(command) for name, command in runs.items()}
    base = results["read baseline"][1]
    print(f"{'step':16s} {'wall s':>8s} {'CPU s':>8s} {'CPU x read':>11s} {'dialogues/CPU s':>16s} {'peak MiB':>9s}")
    for name, (wall, cpu, rss) in results.items():
        print(f"{name:16s} {wall:8.1f} {cpu:8.1f} {cpu / base:11.2f} {args.n / cpu:16,.0f} {rss:9.0f}")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"outputs in {work}")


if __name__ == "__main__":
    main()
