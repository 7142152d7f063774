"""What RL did, read from a run folder brought back with `TRAJ=1 device_collect.sh` (run 4's numbers came from this).

    python results/learning/read_rollouts.py ~/exp/seed0          # after: tar xzf exp.tgz; tar xzf trajectories.tgz

Per block of 8 GRPO steps (training rollouts, `rl/trajectories.jsonl`): the share of first messages that call a
tool, by the task's turn index (a per-turn prompt that misrenders its history shows up here as a drop after turn
0); the share opening with the multi-call thought "Plan:"; the commonest first call. Per held-out model
(`eval_*/checklist_trajectories.jsonl`): the "Plan:" share of turns' first calls, how often a turn's first call
repeats the previous turn's, and the share of checklist items met by turn index.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _call_key(message: dict[str, Any]) -> str:
    function = message["tool_calls"][0]["function"]
    return json.dumps([function["name"], function["arguments"]], sort_keys=True)


def training(run: Path) -> None:
    blocks: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for trajectory in _lines(run / "rl" / "trajectories.jsonl"):
        blocks[(trajectory["metadata"]["train_step"] - 1) // 8].append(trajectory)
    print("training rollouts, per block of 8 steps")
    for block, rollouts in sorted(blocks.items()):
        by_turn: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        plans, firsts = 0, Counter()
        for trajectory in rollouts:
            turn = (
                int(trajectory["dialogue_uuid"].rsplit("@turn", 1)[1]) if "@turn" in trajectory["dialogue_uuid"] else 0
            )
            first = next((m for m in trajectory["messages"] if m["role"] == "assistant"), {})
            calls = bool(first.get("tool_calls"))
            by_turn[min(turn, 3)][0] += calls
            by_turn[min(turn, 3)][1] += 1
            plans += "Plan:" in (first.get("content") or "")
            if calls:
                firsts[_call_key(first)] += 1
        shares = {f"turn {t}{'+' if t == 3 else ''}": f"{a / n:.0%} of {n}" for t, (a, n) in sorted(by_turn.items())}
        top, count = firsts.most_common(1)[0] if firsts else ("-", 0)
        print(
            f"  steps {8 * block + 1}-{8 * block + 8}: first message calls {shares}; "
            f"'Plan:' {plans / len(rollouts):.0%}; commonest first call {count} of {len(rollouts)}: {top[:70]}"
        )


def heldout(run: Path) -> None:
    for folder in sorted(run.glob("eval_*")):
        path = folder / "checklist_trajectories.jsonl"
        if not path.is_file():
            continue
        firsts = plans = repeats = later = 0
        items: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for trajectory in _lines(path):
            turns: list[list[dict[str, Any]]] = []
            for message in trajectory["messages"]:
                if message["role"] == "user":
                    turns.append([])
                elif message["role"] == "assistant" and message.get("tool_calls") and turns:
                    turns[-1].append(message)
            for index, calls in enumerate(turns):
                if calls:
                    firsts += 1
                    plans += "Plan:" in (calls[0].get("content") or "")
                    if index:
                        later += 1
                        repeats += bool(turns[index - 1]) and _call_key(calls[0]) == _call_key(turns[index - 1][0])
            final = {(v["turn"], v["item"]): v["satisfied"] for v in trajectory["verdicts"]}
            for (turn, _), met in final.items():
                items[min(turn, 3)][0] += met
                items[min(turn, 3)][1] += 1
        met = {t: round(a / n, 3) for t, (a, n) in sorted(items.items())}
        print(
            f"{folder.name}: 'Plan:' {plans} of {firsts} first calls; first call repeats the previous turn's in "
            f"{repeats} of {later} later turns; items met by turn (3 = 3+) {met}"
        )


if __name__ == "__main__":
    folder = Path(sys.argv[1]).expanduser()
    training(folder)
    heldout(folder)
