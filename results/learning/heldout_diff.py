"""Which held-out turns RL won or lost against SFT, and what either model does after a failed call (run 13).

    python results/learning/heldout_diff.py HELDOUT SFT RL [--names SFT,RL] [--examples N]

HELDOUT: the reference dialogues (`filter/heldout.jsonl` of a seed's run folder); SFT and RL: the two models'
`checklist_trajectories.jsonl` of their held-out evaluations (or any two models: `--names` says which, such as
two SFT models of one seed, with and without recovery examples). Gzipped files are read as well (run 11's seed 0
keeps all three under `data/run11/`). Printed:
- per turn, whether each model's calls are the reference's (exact calls): both, neither, one of them only;
- for up to N turns the first model matched and the second did not: the mistake kind and both calls;
- per model: tool responses that report an error, and whether the model's next message calls again or ends the
  turn (the reference dialogues hold no failed call, so SFT never saw a recovery); the turns it missed, and how
  many of them saw a failed call; the commonest error messages.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections import Counter
from pathlib import Path

from cm2.benchmarks.bfcl.metrics import turn_calls
from cm2.data.io import read_dialogues
from cm2.schema import Message, ToolCall, Trajectory
from cm2.tools import tool_error_message

sys.path.insert(0, str(Path(__file__).parent))
from reward_vs_bfcl import mistake


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [line for line in handle.read().splitlines() if line.strip()]


def _trajectories(path: Path) -> dict[str, Trajectory]:
    return {t.dialogue_uuid: t for t in (Trajectory.model_validate_json(line) for line in _lines(path))}


def _shown(calls: list[ToolCall]) -> str:
    return "; ".join(f"{c.function.name}({c.function.arguments})" for c in calls) or "(no call)"


def failure_text(message: Message) -> str | None:
    """What a tool message says went wrong: the message of an error object, or the whole result when the tool
    answered with an `error` field of its own (BFCL's `{"cancel_status": false, "error": ...}`); else None."""
    if message.role != "tool":
        return None
    text = tool_error_message(message.content)
    if text is None:
        try:
            result = json.loads(message.content or "")
        except ValueError:
            return None
        text = message.content if isinstance(result, dict) and "error" in result else None
    return text


def _failed(messages: list[Message]) -> bool:
    return any(failure_text(m) is not None for m in messages)


def turns_of(messages: list[Message]) -> list[list[Message]]:
    """The messages after each user message, up to the next one."""
    turns: list[list[Message]] = []
    for message in messages:
        if message.role == "user":
            turns.append([])
        elif turns:
            turns[-1].append(message)
    return turns


def error_kinds(messages: list[Message]) -> Counter[str]:
    """The failed calls' error messages, with quoted names and numbers blanked (`X`), so that kinds add up."""
    kinds: Counter[str] = Counter()
    for message in messages:
        text = failure_text(message)
        if text is not None:
            kinds[re.sub(r"'[^']*'|\d+", "X", text)[:70]] += 1
    return kinds


def after_errors(messages: list[Message]) -> Counter[str]:
    """Tool errors, and whether the assistant's next message calls again or ends the turn."""
    counts: Counter[str] = Counter()
    for index, message in enumerate(messages):
        if not _failed([message]):
            continue
        counts["errors"] += 1
        reply = next((m for m in messages[index + 1 :] if m.role == "assistant"), None)
        if reply is not None:
            counts["then calls again" if reply.tool_calls else "then ends the turn"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("heldout", type=Path)
    parser.add_argument("first", type=Path, help="the first model's held-out play (SFT)")
    parser.add_argument("second", type=Path, help="the second model's (RL, or another SFT)")
    parser.add_argument("--names", default="SFT,RL", help="what to call the two models (default: SFT,RL)")
    parser.add_argument("--examples", type=int, default=12)
    parser.add_argument("--errors", type=int, default=8, help="the commonest error messages shown per model")
    args = parser.parse_args()
    names = tuple(args.names.split(","))
    if len(names) != 2:
        parser.error("--names: two names, comma-separated")
    reference = {d.uuid: d for d in read_dialogues(args.heldout)}
    plays = dict(zip(names, (_trajectories(args.first), _trajectories(args.second)), strict=True))
    labels = {(True, True): "both", (False, False): "neither", (True, False): f"{names[0]} only"}
    labels[False, True] = f"{names[1]} only"
    outcome: Counter[str] = Counter()
    missed: dict[str, Counter[str]] = {name: Counter() for name in names}
    shown = 0
    for uuid, dialogue in reference.items():
        calls = {name: turn_calls(play[uuid].messages) for name, play in plays.items()}
        turns = {name: turns_of(play[uuid].messages) for name, play in plays.items()}
        for turn, wanted in enumerate(turn_calls(dialogue.messages)):
            made = {name: calls[name][turn] if turn < len(calls[name]) else [] for name in names}
            exact = {name: mistake(wanted, made[name]) == "exact" for name in names}
            outcome[labels[exact[names[0]], exact[names[1]]]] += 1
            for name in names:
                if not exact[name]:
                    missed[name]["missed turns"] += 1
                    played = turns[name][turn] if turn < len(turns[name]) else []
                    missed[name]["of them with a failed call"] += _failed(played)
            if exact[names[0]] and not exact[names[1]] and shown < args.examples:
                shown += 1
                print(f"{uuid} turn {turn}: {mistake(wanted, made[names[1]])}")
                print(f"  reference {_shown(wanted)}\n  {names[1]:<9} {_shown(made[names[1]])}")
    print(f"exact calls per turn ({sum(outcome.values())} turns): " + ", ".join(f"{k} {v}" for k, v in outcome.items()))
    for name, play in plays.items():
        counts: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        for trajectory in play.values():
            counts.update(after_errors(trajectory.messages))
            kinds.update(error_kinds(trajectory.messages))
        counts.update(missed[name])
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        for text, count in kinds.most_common(args.errors):
            print(f"  {count:3d}  {text}")


if __name__ == "__main__":
    main()
