"""Measure the held-out measurement: a policy that replays the reference must score 100% on all four held-out
metrics, one that refuses every request 0%.

    python benchmarks/heldout_reference.py [--categories multi_turn_base] [--max-steps-per-turn 20]

The held-out demo split is imported with `cm2 data import-bfcl --split heldout` (every held-out entry of the
categories, all backends, BFCL's full tool docs), then both policies play every turn of every dialogue through
the demo's held-out evaluation (`cm2.demo.evaluate.evaluate_policy`: cm2's episode runner, BFCL's real
backends, deterministic checklist items). Prints each metric with its 95% interval, the limits used, and
`ok` when the reference scores 1 and the refusal 0 everywhere (exit status 1 otherwise); on turns whose
reference makes no call (miss_param's requests for a missing detail) refusing is right, and counted so.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from cm2.benchmarks.bfcl.data import ImportOptions, import_bfcl
from cm2.data.io import read_dialogues
from cm2.demo.config import EvalSection
from cm2.demo.evaluate import ModelScores, evaluate_policy
from cm2.eval.replay_policies import ReferencePolicy, RefusingPolicy

ROWS = (
    ("exact_calls", "exact calls / turn"),
    ("state_match", "state match / turn"),
    ("bfcl_checker", "BFCL checker / dialogue"),
    ("checklist_score", "checklist score"),
)


def line(scores: ModelScores) -> str:
    cells = []
    for key, title in ROWS:
        interval = scores.intervals[key]
        cells.append(
            f"{title} {100 * interval['value']:.1f}% [{100 * interval['low']:.1f}, {100 * interval['high']:.1f}]"
        )
    return f"{scores.model:>9}: " + "; ".join(cells)


def _silent(turn: Any) -> bool:
    """A turn whose reference makes no call (it asks for a missing detail)."""
    return not any(step.calls for step in turn.steps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--categories", default="multi_turn_base", help="Comma-separated BFCL categories.")
    parser.add_argument("--max-steps-per-turn", type=int, default=20, help="BFCL's own limit by default.")
    parser.add_argument("--tool-docs", choices=["full", "compact"], default="full")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        options = ImportOptions(
            categories=[c.strip() for c in args.categories.split(",")], split="heldout", tool_docs=args.tool_docs
        )
        import_bfcl(folder / "heldout.jsonl", options, progress=False)
        dialogues = list(read_dialogues(folder / "heldout.jsonl"))
        settings = EvalSection(max_steps_per_turn=args.max_steps_per_turn)
        longest = max(len(turn.steps) for d in dialogues for turn in d.turns())
        print(
            f"{len(dialogues)} held-out dialogues ({args.categories}), "
            f"{sum(len(d.turns()) for d in dialogues)} turns, every turn played; step limit "
            f"{settings.max_steps_per_turn} per turn (the longest reference turn takes {longest}); "
            "checklist: deterministic items (no judge endpoint)"
        )
        turns = [turn for d in dialogues for turn in d.turns()]
        silent = sum(_silent(turn) for turn in turns) / len(turns)
        # per dialogue, the share of its turns where refusing is right (bounds a refusal's checklist score)
        silent_per_dialogue = sum(sum(map(_silent, d.turns())) / len(d.turns()) for d in dialogues) / len(dialogues)
        if silent:
            print(
                f"{100 * silent:.1f}% of the turns have no reference call (the reply asks for a missing detail): "
                "there a refusal is right, so it may score up to that share per turn"
            )
        ok = True
        for name, policy in (("reference", ReferencePolicy(dialogues)), ("refusal", RefusingPolicy())):
            started = time.perf_counter()
            scores = evaluate_policy(name, policy, dialogues, settings, folder / name)
            print(line(scores) + f" ({time.perf_counter() - started:.1f} s)")
            values = {key: scores.intervals[key]["value"] for key, _ in ROWS}
            if name == "reference":
                # weights like 1/6 sum to 1 only within rounding
                ok &= all(value > 1 - 1e-9 for value in values.values())
            else:
                ok &= values["bfcl_checker"] == 0.0 and values["checklist_score"] <= silent_per_dialogue + 1e-9
                ok &= values["exact_calls"] <= silent + 1e-9 and values["state_match"] <= silent + 1e-9
    print("ok" if ok else "FAIL: the reference must score 100% and the refusal 0% (beyond no-call turns)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
