"""Does the checklist reward rank RL's own training rollouts the way BFCL's numbers do? (run 6's question)

    python results/learning/reward_vs_bfcl.py ~/exp/seed0      # after: tar xzf exp.tgz; tar xzf trajectories.tgz

Each training rollout plays one turn k of a train dialogue after the reference's history. Here it is scored as
the held-out evaluation scores a turn: exact calls (the turn's calls are the reference turn's) and state match
(the reference's calls of turns 0..k-1, then the rollout's, leave BFCL's real backends in the ground truth's
state after turn k). Printed:
- per block of 8 steps: mean reward, exact-call and state-match rates of the training rollouts (does RL move
  the held-out numbers on the very tasks it trains on?);
- within groups (GRPO compares only rollouts of one task): of the pairs the reward orders, how many BFCL orders
  the same way, the opposite way, or not at all; and the advantage-weighted mean of each metric (> 0: the
  update pushes towards it);
- per task that RL drew more than once (an epoch is about 21 steps for 48 dialogues): exact calls, state match and
  reward at its first and its last visit, with a 95% bootstrap interval over tasks of the change (does RL learn
  the tasks it trains on? run 8 on);
- what kind of mistake each turn's calls make against the reference's (wrong functions, extra or missing ones,
  the right functions with other arguments): for the tasks drawn twice at their first and last visit, and for
  each held-out evaluation (`eval_*`), so what RL fixed on its tasks can be checked on new dialogues.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from cm2.benchmarks.bfcl.environment import bfcl_entry_id
from cm2.benchmarks.bfcl.metrics import same_calls, turn_calls
from cm2.benchmarks.bfcl.state_match import turn_state_matches
from cm2.data.io import read_dialogues
from cm2.data.jsonarray import write_json
from cm2.schema import Dialogue, ToolCall, Trajectory


def mistake(wanted: list[ToolCall], played: list[ToolCall]) -> str:
    """How a turn's calls differ from the reference turn's, by function names first."""
    if same_calls(wanted, played):
        return "exact"
    if not played:
        return "no call"
    names, got = [c.function.name for c in wanted], [c.function.name for c in played]
    if names == got:
        return "same functions, other arguments"
    if set(names) == set(got):
        return "same functions, other count or order"
    if set(names) < set(got):
        return "extra functions"
    if set(got) < set(names):
        return "missing functions"
    return "other functions"


async def _score(reference: Dialogue, rollout: Trajectory, turn: int) -> tuple[bool, bool, str]:
    context = rollout.metadata.get("context_messages", 0)
    whole = rollout.model_copy(update={"messages": reference.messages[:context] + rollout.messages})
    played = turn_calls(whole.messages)
    wanted = turn_calls(reference.messages)
    exact = turn < len(played) and same_calls(wanted[turn], played[turn])
    states = await turn_state_matches(bfcl_entry_id(reference), whole, turn + 1)
    return exact, states[turn], mistake(wanted[turn], played[turn] if turn < len(played) else [])


def _rows(run: Path) -> list[dict[str, Any]]:
    # RL's tasks come from rl_train.jsonl where SFT left dialogues to RL (run 7 on), else from sft_train.jsonl
    references = {d.uuid: d for path in sorted((run / "sft").glob("*.jsonl")) for d in read_dialogues(path)}
    lines = (run / "rl" / "trajectories.jsonl").read_text(encoding="utf-8").splitlines()

    async def score_all() -> list[dict[str, Any]]:
        rows = []
        for line in lines:
            rollout = Trajectory.model_validate_json(line)
            uuid, _, turn = rollout.dialogue_uuid.partition("@turn")
            exact, state, kind = await _score(references[uuid], rollout, int(turn or 0))
            rows.append(
                {
                    "step": rollout.metadata["train_step"],
                    "group": rollout.group,
                    "reward": float(rollout.rewards.get("trajectory", 0.0)),
                    "exact": float(exact),
                    "state": float(state),
                    "mistake": kind,
                }
            )
        return rows

    return asyncio.run(score_all())


def report(rows: list[dict[str, Any]]) -> None:
    blocks: dict[int, list[dict[str, Any]]] = defaultdict(list)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        blocks[(row["step"] - 1) // 8].append(row)
        groups[row["group"]].append(row)
    print("per block of 8 steps: reward, exact calls, state match of the training rollouts")
    for block, members in sorted(blocks.items()):
        means = {k: np.mean([r[k] for r in members]) for k in ("reward", "exact", "state")}
        print(f"  steps {8 * block + 1}-{8 * block + 8}: " + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
    for metric in ("exact", "state"):
        same = opposite = tied = 0
        pushed: list[float] = []
        for members in groups.values():
            rewards = np.array([r["reward"] for r in members])
            if rewards.std() < 1e-9:
                continue
            values = np.array([r[metric] for r in members])
            pushed.append(float(((rewards - rewards.mean()) / rewards.std() * values).mean()))
            for a, b in combinations(members, 2):
                if a["reward"] == b["reward"]:
                    continue
                order = np.sign(a["reward"] - b["reward"]) * np.sign(a[metric] - b[metric])
                same, opposite, tied = same + (order > 0), opposite + (order < 0), tied + (order == 0)
        overall = np.corrcoef([r["reward"] for r in rows], [r[metric] for r in rows])[0, 1]
        print(
            f"{metric}: correlation with reward {overall:.2f}; within groups with a spread ({len(pushed)}), pairs "
            f"the reward orders: same order {same}, opposite {opposite}, {metric} tied {tied}; "
            f"advantage-weighted mean {np.mean(pushed):+.3f}"
        )


def _first_and_last_visits(rows: list[dict[str, Any]]) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """For each task RL drew more than once, its rollouts at the first and at the last visit."""
    visits: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        visits[row["group"].split(":")[0]][row["step"]].append(row)  # group id: "<uuid>@turn<k>:<seed>:step<n>:<i>"
    return [(steps[min(steps)], steps[max(steps)]) for steps in visits.values() if len(steps) > 1]


def revisits(rows: list[dict[str, Any]]) -> None:
    """Each task's rollouts at its first and its last visit: what RL learned on the tasks it trains on."""
    pairs = _first_and_last_visits(rows)
    if not pairs:
        print("no task drawn twice")
        return
    gaps = [b[0]["step"] - a[0]["step"] for a, b in pairs]
    tasks = len({row["group"].split(":")[0] for row in rows})
    print(f"{len(pairs)} of {tasks} tasks drawn more than once (median {np.median(gaps):.0f} steps apart):")
    rng = np.random.default_rng(0)
    for metric in ("exact", "state", "reward"):
        first = np.array([np.mean([r[metric] for r in a]) for a, _ in pairs])
        last = np.array([np.mean([r[metric] for r in b]) for _, b in pairs])
        change = last - first
        low, high = np.percentile([rng.choice(change, change.size).mean() for _ in range(2000)], [2.5, 97.5])
        print(
            f"  {metric}: first visit {first.mean():.3f}, last {last.mean():.3f}, change {change.mean():+.3f} "
            f"[{low:+.3f}, {high:+.3f}]; tasks up {(change > 0).sum()}, down {(change < 0).sum()}"
        )


def _shares(counts: Counter[str]) -> str:
    total = sum(counts.values())
    return ", ".join(f"{kind} {n / total:.1%}" for kind, n in counts.most_common())


def mistakes(run: Path, rows: list[dict[str, Any]]) -> None:
    """Mistake kinds of the training tasks drawn twice (first and last visit) and of each held-out evaluation."""
    pairs = _first_and_last_visits(rows)
    if pairs and "mistake" in rows[0]:  # rows cached before run 8's reading have no mistake kind
        print("mistakes of the tasks drawn twice, share of rollouts")
        print("  first visit: " + _shares(Counter(r["mistake"] for a, _ in pairs for r in a)))
        print("  last visit: " + _shares(Counter(r["mistake"] for _, b in pairs for r in b)))
    heldout = {d.uuid: d for d in read_dialogues(run / "filter" / "heldout.jsonl")}
    for folder in sorted(run.glob("eval_*")):
        path = folder / "checklist_trajectories.jsonl"
        if not path.is_file():
            continue
        counts: Counter[str] = Counter()
        for line in path.read_text(encoding="utf-8").splitlines():
            trajectory = Trajectory.model_validate_json(line)
            played = turn_calls(trajectory.messages)
            for index, wanted in enumerate(turn_calls(heldout[trajectory.dialogue_uuid].messages)):
                counts[mistake(wanted, played[index] if index < len(played) else [])] += 1
        print(f"held-out {folder.name}, share of {sum(counts.values())} turns: " + _shares(counts))


if __name__ == "__main__":
    run = Path(sys.argv[1])
    cache = run / "rl" / "reward_vs_bfcl.json"  # the scored rows: a second reading skips the backends
    if cache.is_file():
        rows = json.loads(cache.read_text())
    else:
        rows = _rows(run)
        write_json(cache, rows, indent=None)
    report(rows)
    revisits(rows)
    mistakes(run, rows)
