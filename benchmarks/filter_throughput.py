"""Throughput of the rule filters on one core, over synthetic dialogues with injected defects.

    .venv/bin/python benchmarks/filter_throughput.py [--n 100000] [--defect-rate 0.2] [--chunk 10000]

Prints dialogues per second for the generator, for all rules together (`run_filters`, the CLI's hot
path), for the input step alone and for each rule alone. Baselines in the same run: all rules with
the schema caches cleared before every dialogue (the gain of caching), and all rules over tools with
many distinct parameter schemas, starting from empty caches (the cost of schema diversity). The run
also checks that exactly the injected defects were rejected.

One process, pinned to one CPU core. Rates are given per second of this process's CPU time (robust
on a shared machine) and per second of wall time. Each chunk of generated dialogues is frozen
(`gc.freeze`) while it is timed: the CLI streams one record at a time and would not pay for the
collector rescanning thousands of held dialogues.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cm2.data.filters import RULES, FilterConfig, prepare, run_filters
from cm2.data.filters.schemas import clear_caches, parameters_problem
from cm2.data.synthetic import DEFECTS, SyntheticDialogue, SyntheticSpec, synthetic_dialogues

TARGET = 5000.0


class Stopwatch:
    """Accumulated CPU and wall seconds per stage."""

    def __init__(self) -> None:
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.wall: defaultdict[str, float] = defaultdict(float)

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        cpu, wall = time.process_time(), time.perf_counter()
        yield
        self.cpu[stage] += time.process_time() - cpu
        self.wall[stage] += time.perf_counter() - wall

    def line(self, stage: str, count: int, note: str = "") -> str:
        cpu, wall = self.cpu[stage], self.wall[stage]
        return f"{stage:<30}{count / cpu:>12,.0f}{count / wall:>12,.0f}{cpu:>9.2f}  {note}".rstrip()


def _pin_to_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to CPU {core}"


def _filter_all(records: list[dict[str, Any]], config: FilterConfig, *, cold: bool = False) -> None:
    for record in records:
        if cold:
            clear_caches()
        for _ in run_filters([record], config):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="dialogues to generate and filter")
    parser.add_argument("--defect-rate", type=float, default=0.2, help="share of dialogues with one injected defect")
    parser.add_argument("--chunk", type=int, default=10_000, help="dialogues held in memory at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cold", type=int, default=2000, help="dialogues for the cold-cache baseline")
    parser.add_argument("--diverse", type=int, default=20_000, help="dialogues for the schema-diversity run")
    parser.add_argument("--variants", type=int, default=100, help="versions of each tool in the diversity run")
    args = parser.parse_args()

    pinned = _pin_to_one_core()
    config = FilterConfig()
    clock = Stopwatch()
    stream = synthetic_dialogues(args.n, seed=args.seed, defect_rate=args.defect_rate)
    rejected: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    false_rejects = done = 0
    cold_records: list[dict[str, Any]] = []
    while done < args.n:
        with clock.time("generator"):
            chunk: list[SyntheticDialogue] = list(itertools.islice(stream, args.chunk))
        if not chunk:
            break
        records = [item.record for item in chunk]
        gc.freeze()
        cold_records.extend(records[: max(0, args.cold - len(cold_records))])
        with clock.time("all rules"):
            results = list(run_filters(records, config))
        for item, result in zip(chunk, results, strict=True):
            rules = {violation.rule for violation in result.violations}
            rejected.update(rules)
            false_rejects += item.defect is None and bool(rules)
            if item.defect is not None and DEFECTS[item.defect] not in rules:
                missed[item.defect] += 1
        with clock.time("input step"):
            for position, record in enumerate(records):
                prepare(record, f"record {position}")
        for name, rule in RULES.items():
            prepared = [prepare(record, f"record {position}") for position, record in enumerate(records)]
            with clock.time(name):
                for rec in prepared:
                    rule.check(rec, config)
        done += len(chunk)
        del chunk, records, results, prepared
        gc.unfreeze()
        gc.collect()

    gc.freeze()
    with clock.time("all rules, cold caches"):
        _filter_all(cold_records, config, cold=True)
    spec = SyntheticSpec(tool_variants=args.variants)
    diverse = [d.record for d in synthetic_dialogues(args.diverse, seed=args.seed + 1, defect_rate=0.2, spec=spec)]
    gc.freeze()
    clear_caches()
    with clock.time("all rules, diverse tools"):
        _filter_all(diverse, config)
    distinct = parameters_problem.cache_info().misses

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"filter throughput: {done:,} synthetic dialogues, defect rate {args.defect_rate}, one process, {pinned}")
    print(f"machine load average (1, 5, 15 min): {load}")
    print(f"{'stage':<30}{'dlg/s cpu':>12}{'dlg/s wall':>12}{'cpu s':>9}")
    print(clock.line("generator", done))
    print(clock.line("all rules", done, "<- run_filters, every rule"))
    print(clock.line("input step", done))
    for name in RULES:
        print(clock.line(name, done, "(alone, input step excluded)"))
    print(clock.line("all rules, cold caches", len(cold_records), "(schema caches cleared before every dialogue)"))
    note = f"({len(diverse):,} dialogues, {distinct:,} distinct parameter schemas, caches empty at start)"
    print(clock.line("all rules, diverse tools", len(diverse), note))
    warm = done / clock.cpu["all rules"]
    print(f"caching speed-up: {warm / (len(cold_records) / clock.cpu['all rules, cold caches']):.1f}x")
    print("rejections per rule: " + ", ".join(f"{name}={rejected[name]}" for name in RULES))
    print(f"injected defects missed: {sum(missed.values())} {dict(missed) or ''}".rstrip())
    print(f"valid dialogues rejected: {false_rejects}")
    verdict = "meets" if warm >= TARGET else "MISSES"
    print(
        f"all rules together: {warm:,.0f} dialogues per CPU-second on one core ({verdict} the {TARGET:,.0f}/s target)"
    )


if __name__ == "__main__":
    main()
