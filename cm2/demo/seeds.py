"""Several seeds of the learning experiment side by side, and their held-out numbers brought together."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

METRICS = ("state_match_accuracy", "exact_call_accuracy", "checklist_score", "bfcl_accuracy")
# Two-sided 97.5% quantiles of Student's t by degrees of freedom (seeds - 1).
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def mean_interval(values: list[float]) -> dict[str, float | None]:
    """Mean over seeds with a 95% t-interval (None with one seed)."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return {"mean": mean, "low": None, "high": None, "sd": None}
    sd = float(np.std(values, ddof=1))
    half = T_975.get(len(values) - 1, 1.96) * sd / math.sqrt(len(values))
    return {"mean": mean, "low": mean - half, "high": mean + half, "sd": sd}


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when either side is constant."""

    def ranks(values: list[float]) -> np.ndarray:
        order = np.argsort(values, kind="stable")
        out = np.empty(len(values))
        sorted_values = np.asarray(values)[order]
        i = 0
        while i < len(values):
            j = i
            while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
                j += 1
            out[order[i : j + 1]] = (i + j) / 2
            i = j + 1
        return out

    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def seed_scores(out: Path, seeds: list[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """Per seed, model name → its held-out scores (from OUT/seed<N>/eval)."""
    from cm2.demo.stages import read_record

    found: dict[int, dict[str, dict[str, Any]]] = {}
    for seed in seeds:
        record = read_record(out / f"seed{seed}" / "eval")
        if record is not None:
            found[seed] = {scores["model"]: scores for scores in record.outputs.get("scores", [])}
    return found


def summarize(out: Path, seeds: list[int]) -> dict[str, Any]:
    """Mean and 95% interval over seeds of every model's held-out metrics, RL − SFT per seed, and how checklist
    score ranks against state match across every evaluated checkpoint."""
    by_seed = seed_scores(out, seeds)
    models = sorted({m for scores in by_seed.values() for m in scores}, key=lambda m: (m != "base", m != "sft", m))
    table: dict[str, dict[str, Any]] = {}
    for model in models:
        rows = [scores[model] for scores in by_seed.values() if model in scores]
        table[model] = {metric: mean_interval([float(r[metric]) for r in rows]) for metric in METRICS}
        table[model]["seeds"] = len(rows)
    gains: dict[str, dict[str, Any]] = {}
    for model in models:
        if model in ("base", "sft"):
            continue
        pairs = [s for s in by_seed.values() if model in s and "sft" in s]
        gains[f"{model} - sft"] = {
            metric: mean_interval([float(s[model][metric]) - float(s["sft"][metric]) for s in pairs])
            for metric in METRICS
        }
    points = [scores for seed in by_seed.values() for scores in seed.values()]
    correlation = spearman(
        [float(p["checklist_score"]) for p in points], [float(p["state_match_accuracy"]) for p in points]
    )
    return {
        "seeds": sorted(by_seed),
        "per_seed": {str(seed): scores for seed, scores in by_seed.items()},
        "mean_over_seeds": table,
        "gain_over_sft": gains,
        "spearman_checklist_vs_state_match": {"rho": correlation, "checkpoints": len(points)},
        "spearman_per_dialogue": dialogue_correlations(out, sorted(by_seed)),
        "spearman_probe_steps": probe_correlations(out, sorted(by_seed)),
        "paired_over_dialogues": paired_gains(out, sorted(by_seed)),
    }


# metric → a dialogue_scores.jsonl row's (numerator, denominator), as `heldout_intervals` counts them: turns for
# the per-turn rates; for the checklist the dialogue's score out of 1, and nothing from a dialogue whose
# checklist offers no weight
PAIRED: dict[str, Callable[[dict[str, Any]], tuple[float, float]]] = {
    "state_match_accuracy": lambda row: (row["state_turns"], row["turns"]),
    "exact_call_accuracy": lambda row: (row["exact_turns"], row["turns"]),
    "checklist_score": lambda row: (
        (min(1.0, row["checklist_earned"] / row["checklist_earnable"]), 1.0) if row["checklist_earnable"] else (0, 0)
    ),
}


def _dialogue_rows(path: Path) -> dict[str, dict[str, Any]]:
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {row["uuid"]: row for row in rows}


def paired_gains(out: Path, seeds: list[int]) -> dict[str, dict[str, Any]]:
    """Per seed, each trained model minus SFT on the same held-out dialogues, with a paired bootstrap interval
    (dialogues resampled together for both models)."""
    from cm2.eval.intervals import paired_difference_interval

    found: dict[str, dict[str, Any]] = {}
    for seed in seeds:
        folder = out / f"seed{seed}"
        sft_path = folder / "eval_sft" / "dialogue_scores.jsonl"
        if not sft_path.is_file():
            continue
        sft = _dialogue_rows(sft_path)
        for path in sorted(folder.glob("eval_*/dialogue_scores.jsonl")):
            model = path.parent.name.removeprefix("eval_")
            if model in ("base", "sft"):
                continue
            rows = _dialogue_rows(path)
            both = [uuid for uuid in rows if uuid in sft]
            found[f"seed {seed}: {model} - sft"] = {
                metric: paired_difference_interval(
                    *zip(*(part(rows[u]) for u in both), strict=True),
                    *zip(*(part(sft[u]) for u in both), strict=True),
                ).as_dict()
                for metric, part in PAIRED.items()
            }
    return found


def dialogue_correlations(out: Path, seeds: list[int]) -> dict[str, Any]:
    """Spearman's rho between a held-out dialogue's checklist score and its state match and exact-call rates,
    over every (trained checkpoint, dialogue) pair; the base model is left out, its zeros would only add ties."""
    rows = [
        row
        for seed in seeds
        for path in sorted((out / f"seed{seed}").glob("eval_*/dialogue_scores.jsonl"))
        if path.parent.name != "eval_base"
        for row in _dialogue_rows(path).values()
    ]
    rows = [r for r in rows if r["turns"] and r["checklist_earnable"]]
    checklist = [r["checklist_earned"] / r["checklist_earnable"] for r in rows]
    return {
        "pairs": len(rows),
        "state_match": spearman(checklist, [r["state_turns"] / r["turns"] for r in rows]),
        "exact_calls": spearman(checklist, [r["exact_turns"] / r["turns"] for r in rows]),
    }


def probe_correlations(out: Path, seeds: list[int]) -> dict[str, Any]:
    """Spearman's rho between the probe's checklist reward and the validation slice's state match and exact calls,
    over every probed RL step (step 0 included) of every seed and level: whether the reward ranks the policies
    of one run as the outcome numbers do (RL's checkpoints, as against `dialogue_correlations`' dialogues)."""
    from cm2.train.probe import PROBE_FILE, read_probe

    probes = [
        record
        for seed in seeds
        for path in sorted((out / f"seed{seed}").glob(f"rl*/{PROBE_FILE}"))
        for record in read_probe(path)
        if isinstance(record.get("validation"), dict)
    ]
    reward = [float(r["probe_reward"]) for r in probes]
    return {
        "steps": len(probes),
        "state_match": spearman(reward, [float(r["validation"]["state_match"]) for r in probes]),
        "exact_calls": spearman(reward, [float(r["validation"]["exact_calls"]) for r in probes]),
    }


def write_seed_summary(out: Path, seeds: list[int]) -> Path:
    """OUT/results/seeds.json and seeds.md."""
    folder = out / "results"
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarize(out, seeds)
    (folder / "seeds.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (folder / "seeds.md").write_text(seed_markdown(summary), encoding="utf-8")
    return folder


def _cell(stat: dict[str, float | None]) -> str:
    mean, low, high = stat["mean"], stat["low"], stat["high"]
    assert mean is not None
    if low is None or high is None:
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def seed_markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown tables (percent; mean over seeds [95% t-interval])."""
    head = "| model | seeds | " + " | ".join(METRICS) + " |\n|" + " --- |" * (len(METRICS) + 2) + "\n"
    lines = [f"Seeds: {summary['seeds']}\n", head]
    for model, row in summary["mean_over_seeds"].items():
        lines.append(f"| {model} | {row['seeds']} | " + " | ".join(_cell(row[m]) for m in METRICS) + " |\n")
    lines.append("\nGain over SFT (points, same seed):\n\n" + head.replace("| model | seeds |", "| difference | |"))
    for name, row in summary["gain_over_sft"].items():
        lines.append(f"| {name} | | " + " | ".join(_cell(row[m]) for m in METRICS) + " |\n")
    paired = summary.get("paired_over_dialogues") or {}
    if paired:
        lines.append(
            "\nPaired over held-out dialogues (points; 95% bootstrap, the same dialogues resampled for both):\n\n"
            + "| difference | "
            + " | ".join(PAIRED)
            + " |\n|"
            + " --- |" * (len(PAIRED) + 1)
            + "\n"
        )
        for name, row in paired.items():
            differences = [
                f"{100 * row[m]['value']:+.1f} [{100 * row[m]['low']:+.1f}, {100 * row[m]['high']:+.1f}]"
                for m in PAIRED
            ]
            lines.append(f"| {name} | " + " | ".join(differences) + " |\n")
    rho = summary["spearman_checklist_vs_state_match"]
    lines.append(f"\nSpearman rank correlation, checklist score vs state match over {rho['checkpoints']} checkpoints: ")
    lines.append(f"{rho['rho']:.3f}\n" if rho["rho"] is not None else "undefined (a constant side)\n")
    per = summary["spearman_per_dialogue"]
    cells = {k: "undefined" if per[k] is None else f"{per[k]:.3f}" for k in ("state_match", "exact_calls")}
    lines.append(
        f"Per held-out dialogue ({per['pairs']} trained checkpoint x dialogue pairs), checklist score vs state match: "
        f"{cells['state_match']}; vs exact calls: {cells['exact_calls']}\n"
    )
    probe = summary.get("spearman_probe_steps") or {}
    if probe.get("steps"):
        cells = {k: "undefined" if probe[k] is None else f"{probe[k]:.3f}" for k in ("state_match", "exact_calls")}
        lines.append(
            f"Over RL's probed steps on the validation slice ({probe['steps']}), probe checklist reward vs state "
            f"match: {cells['state_match']}; vs exact calls: {cells['exact_calls']}\n"
        )
    return "".join(lines)
