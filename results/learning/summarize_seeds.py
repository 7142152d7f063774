"""The mean over seeds from the records each session committed, since the seeds run in separate sessions and no
session keeps another's experiment folder.

    python results/learning/summarize_seeds.py run12:0 run13:1 run14:2 [--out seeds_summary]

Each RUN:SEED names `data/RUN/` (written by store_run.sh) and the seed it holds. From its `seedS_results.json`
(the held-out scores), `seedS_<model>_dialogue_scores.jsonl` and `seedS_probe.jsonl` this rebuilds the part of
an experiment folder that `cm2.demo.seeds.write_seed_summary` reads, runs it, and writes `OUT.md` and
`OUT.json` here (default `seeds_summary`): the mean over seeds with t-intervals, RL − SFT per seed and the
paired intervals over held-out dialogues.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from cm2.demo.seeds import write_seed_summary
from cm2.demo.stages import MARKER, StageRecord

HERE = Path(__file__).resolve().parent


def rebuild(run: str, seed: int, out: Path) -> None:
    """`out/seed<seed>` as the experiment left it, as far as the summary reads it, from `data/<run>/`."""
    data = HERE / "data" / run
    results = data / f"seed{seed}_results.json"
    if not results.is_file():
        sys.exit(f"error: {results}: no held-out results for seed {seed} of {run} (was RL evaluated?)")
    scores = json.loads(results.read_text(encoding="utf-8"))["scores"]
    folder = out / f"seed{seed}"
    (folder / "eval").mkdir(parents=True)
    record = StageRecord(
        name="eval", fingerprint=f"data/{run}", seconds=0.0, finished_at="", outputs={"scores": scores}
    )
    (folder / "eval" / MARKER).write_text(record.model_dump_json(indent=2), encoding="utf-8")
    for path in data.glob(f"seed{seed}_*_dialogue_scores.jsonl"):
        model = path.name.removeprefix(f"seed{seed}_").removesuffix("_dialogue_scores.jsonl")
        (folder / f"eval_{model}").mkdir()
        shutil.copy(path, folder / f"eval_{model}" / "dialogue_scores.jsonl")
    probe = data / f"seed{seed}_probe.jsonl"
    if probe.is_file():
        (folder / "rl").mkdir()
        shutil.copy(probe, folder / "rl" / "probe.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN:SEED")
    parser.add_argument("--out", default="seeds_summary", help="file stem under results/learning/")
    args = parser.parse_args()
    pairs = [(run, int(seed)) for run, _, seed in (item.partition(":") for item in args.runs)]
    seeds = [seed for _, seed in pairs]
    if len(set(seeds)) != len(seeds):
        sys.exit(f"error: each seed once: {args.runs}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for run, seed in pairs:
            rebuild(run, seed, out)
        folder = write_seed_summary(out, seeds)
        for suffix in (".md", ".json"):
            shutil.copy(folder / f"seeds{suffix}", HERE / f"{args.out}{suffix}")
    print(f"wrote {HERE / args.out}.md and .json")


if __name__ == "__main__":
    main()
