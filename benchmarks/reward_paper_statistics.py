"""How often cm2's advantages differ from a plain implementation of the paper's Eqs. 7-9, per reading.

Random groups (1-3 checklist turns, 1-4 items with random weights and dependencies, 2-6 rollouts that stop at
different turns) are scored at trajectory, turn and step level with scale one and std, by cm2 with
`turn_baseline: all` (the default) and `reached` (the released code's reading), and by the loops in
`cm2/testing/paper_equations.py`. Prints the disagreements of each reading out of all comparisons.

    python benchmarks/reward_paper_statistics.py [--groups 3000] [--seed 20260212]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cm2.testing.paper_comparison import agree, cm2_advantages, paper_advantages, scored
from cm2.testing.paper_equations import random_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20260212)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    differ = {"all": 0, "reached": 0}
    uneven = comparisons = 0
    started = time.perf_counter()
    for _ in range(args.groups):
        checklist, group = random_case(rng)
        uneven += len({len(turns) for turns in group}) > 1
        rollouts = scored(checklist, group)
        for level in ("trajectory", "turn", "step"):
            for scale in ("one", "std"):
                theirs = paper_advantages(checklist, group, level, scale)
                comparisons += 1
                for baseline in differ:
                    mine = cm2_advantages(rollouts, level, scale=scale, turn_baseline=baseline)
                    differ[baseline] += not agree(mine, theirs)
    print(f"{args.groups} groups ({uneven} with uneven reach), {comparisons} comparisons (3 levels x 2 scales)")
    for baseline, count in differ.items():
        print(f"turn_baseline={baseline:<8} disagrees with the paper's equations in {count} of {comparisons}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
