"""Streaming proof for cm2.data.io: memory stays flat however large the file.

    .venv/bin/python benchmarks/io_memory.py [--records 300000] [--workdir DIR] [--no-baseline] [--json]

Generates a JSONL of small synthetic tool-use dialogues, then streams it JSONL → Parquet → JSONL
through `read_dialogues` (full validation into `Dialogue`s) and `write_records`. Each phase runs in
its own process, which reports its records/s and its peak RSS (`resource.getrusage`) above what it
held once its imports were done. The baseline, in the same run, loads every dialogue of the same
file into a list (what a non-streaming reader does). The last lines check that the round trip gave
back the input exactly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MB = 1024 * 1024
_CITIES = ("Lisbon", "Nairobi", "Osaka", "Denver", "Tallinn", "Lima", "Perth", "Bergen")
_WORDS = ("check", "the", "tool", "result", "then", "answer", "with", "key", "facts", "and", "any", "caveat")
_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "find_hotels",
            "description": "Hotels in a city under a nightly price.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "max_price": {"type": "integer"}},
                "required": ["city"],
            },
        },
    },
]


def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(_WORDS, k=rng.randint(low, high)))


def synthetic_record(index: int) -> dict[str, Any]:
    """A small cm2 record: 1-3 turns, each a tool call (arguments as string or object) and a reply."""
    rng = random.Random(index)
    messages: list[dict[str, Any]] = []
    for turn in range(rng.randint(1, 3)):
        city = rng.choice(_CITIES)
        tool = rng.choice(_TOOLS)["function"]["name"]
        arguments: str | dict[str, Any] = {"city": city}
        if rng.random() < 0.5:
            arguments = json.dumps(arguments)
        call_id = f"call_{index}_{turn}"
        messages += [
            {"role": "user", "content": f"What about {city}? {_text(rng, 3, 8)}"},
            {
                "role": "assistant",
                "content": f"<think>\n{_text(rng, 8, 20)}\n</think>",
                "tool_calls": [{"id": call_id, "type": "function", "function": {"name": tool, "arguments": arguments}}],
            },
            {
                "role": "tool",
                "content": json.dumps({"city": city, "value": rng.randint(-5, 300)}),
                "tool_call_id": call_id,
            },
            {"role": "assistant", "content": f"<think>\n{_text(rng, 4, 10)}\n</think>\n\n{_text(rng, 6, 16)}"},
        ]
    return {"uuid": f"bench-{index:07d}", "messages": messages, "tools": _TOOLS}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def run_phase(phase: str, workdir: Path, records: int) -> dict[str, Any]:
    """One phase, in this process; returns its figures."""
    from cm2.data.adapters import to_cm2
    from cm2.data.io import read_dialogues, write_records

    source: dict[str, str | None] = {
        "generate": None,
        "to_parquet": "input.jsonl",
        "to_jsonl": "stage.parquet",
        "load_all": "input.jsonl",
    }
    target: dict[str, str | None] = {
        "generate": "input.jsonl",
        "to_parquet": "stage.parquet",
        "to_jsonl": "output.jsonl",
        "load_all": None,
    }
    problems: list[tuple[str, str]] = []

    def dialogues(name: str) -> Iterator[dict[str, Any]]:
        return (to_cm2(d) for d in read_dialogues(workdir / name, errors=problems))

    start_mb = _peak_mb()
    began = time.perf_counter()
    if phase == "generate":
        count = write_records(workdir / "input.jsonl", (synthetic_record(i) for i in range(records)))
    elif phase == "load_all":
        held = list(read_dialogues(workdir / "input.jsonl", errors=problems))
        count = len(held)
    else:
        count = write_records(workdir / str(target[phase]), dialogues(str(source[phase])))
    seconds = time.perf_counter() - began
    name_in, name_out = source[phase], target[phase]
    return {
        "phase": phase,
        "records": count,
        "problems": len(problems),
        "seconds": seconds,
        "records_per_s": count / seconds if seconds else 0.0,
        "input_mb": (workdir / name_in).stat().st_size / MB if name_in else 0.0,
        "output_mb": (workdir / name_out).stat().st_size / MB if name_out else 0.0,
        "start_rss_mb": start_mb,
        "peak_rss_mb": _peak_mb(),
        "growth_mb": _peak_mb() - start_mb,
    }


def _in_child(phase: str, workdir: Path, records: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", phase, "--workdir", str(workdir), "--records", str(records)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _same_records(first: Path, second: Path) -> tuple[bool, bool]:
    """(byte-identical, every line equal as JSON), read as streams."""
    digests = []
    for path in (first, second):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        digests.append(digest.hexdigest())
    with open(first, "rb") as a, open(second, "rb") as b:
        equal = all(json.loads(x) == json.loads(y) for x, y in zip(a, b, strict=True))
    return digests[0] == digests[1], equal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here (default: a temp dir)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the load-everything baseline")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()

    # Imports belong to every phase's starting memory, not to its growth.
    import pyarrow.parquet  # noqa: F401

    import cm2.data.io  # noqa: F401

    if args.phase:
        print(json.dumps(run_phase(args.phase, args.workdir, args.records)))
        return

    with tempfile.TemporaryDirectory(prefix="cm2-io-bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        phases = ["generate", "to_parquet", "to_jsonl"] + ([] if args.no_baseline else ["load_all"])
        results = [_in_child(phase, workdir, args.records) for phase in phases]
        identical, equal = _same_records(workdir / "input.jsonl", workdir / "output.jsonl")

    if args.json:
        print(json.dumps({"results": results, "identical": identical, "equal": equal}))
        return
    header = f"{'phase':<11}{'records':>9}{'seconds':>9}{'rec/s':>9}{'in MB':>9}{'out MB':>9}{'RSS MB':>9}{'growth':>9}"
    print(header)
    for r in results:
        print(
            f"{r['phase']:<11}{r['records']:>9}{r['seconds']:>9.1f}{r['records_per_s']:>9.0f}{r['input_mb']:>9.1f}"
            f"{r['output_mb']:>9.1f}{r['peak_rss_mb']:>9.0f}{r['growth_mb']:>9.1f}"
        )
    streaming = max(r["growth_mb"] for r in results if r["phase"] != "load_all")
    jsonl_mb = results[0]["output_mb"]
    share = streaming / jsonl_mb
    print(f"JSONL size {jsonl_mb:.0f} MB; worst streaming RSS growth {streaming:.1f} MB ({share:.1%} of the file)")
    if not args.no_baseline:
        baseline = results[-1]["growth_mb"]
        print(f"load-everything baseline grows {baseline:.0f} MB: streaming uses {streaming / baseline:.1%} of that")
    print(f"JSONL → Parquet → JSONL gives back the input: byte-identical={identical}, records equal={equal}")


if __name__ == "__main__":
    main()
