"""Per-job statistics gathered result by result (constant memory, whatever the number of dialogues)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol

from cm2.annotate.runner import Done


class Tally(Protocol):
    """Sees every result of a run; `figures()` gives the job's own summary lines."""

    def add(self, done: Done) -> None: ...

    def figures(self) -> dict[str, Any]: ...


class LabelTally:
    """Requests per checklist (1 = accepted at once; more = repair rounds or failed requests)."""

    def __init__(self) -> None:
        self.rounds = 0
        self.samples = 0
        self.checklists = 0

    def add(self, done: Done) -> None:
        rounds = done.info.get("rounds", [])
        self.rounds += sum(rounds)
        self.samples += len(rounds)
        self.checklists += done.info.get("ok", 0) if done.sink == "out" else 0

    def figures(self) -> dict[str, Any]:
        return {
            "checklists written": self.checklists,
            "requests per checklist": round(self.rounds / self.samples, 2) if self.samples else 0,
        }


class ReferenceTally:
    def __init__(self) -> None:
        self.items = 0
        self.dialogues = 0

    def add(self, done: Done) -> None:
        if "items" in done.info:
            self.items += done.info["items"]
            self.dialogues += 1

    def figures(self) -> dict[str, Any]:
        return {"items per dialogue": round(self.items / self.dialogues, 2) if self.dialogues else 0}


class FilterTally:
    """Per stage: dialogues reviewed, rejected, lost to errors (no usable verdict), and the stage's cost."""

    def __init__(self, efforts: list[str]) -> None:
        self.efforts = efforts
        self.reviewed: Counter[int] = Counter()
        self.rejected: Counter[int] = Counter()
        self.errors: Counter[int] = Counter()
        self.cost: Counter[int] = Counter()

    def add(self, done: Done) -> None:
        for stage in done.info.get("stages", []):
            n = stage["stage"]
            self.reviewed[n] += 1
            self.cost[n] += stage["cost_usd"]
            if stage["keep"] is None:
                self.errors[n] += 1
            elif not stage["keep"]:
                self.rejected[n] += 1

    def figures(self) -> dict[str, Any]:
        rows = [
            {
                "stage": n,
                "effort": self.efforts[n] if n < len(self.efforts) else "?",
                "reviewed": self.reviewed[n],
                "rejected": self.rejected[n],
                "errors": self.errors[n],
                "cost usd": round(self.cost[n], 6),
            }
            for n in sorted(self.reviewed)
        ]
        return {"stages": rows}


class CompressTally:
    """Passages rewritten or kept (and why), and thinking characters before and after."""

    def __init__(self) -> None:
        self.before = self.after = self.rewritten = 0
        self.reasons: Counter[str] = Counter()

    def add(self, done: Done) -> None:
        self.before += done.info.get("chars_before", 0)
        self.after += done.info.get("chars_after", 0)
        self.rewritten += done.info.get("rewritten", 0)
        for entry in done.info.get("kept", []):
            self.reasons[entry["reason"].split(":", 1)[0]] += 1

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passages rewritten": self.rewritten,
            "passages kept (rewrite refused or failed)": sum(self.reasons.values()),
            "thinking chars before": self.before,
            "thinking chars after": self.after,
            "compression ratio (after / before)": round(self.after / self.before, 4) if self.before else 1.0,
        }
        if self.reasons:
            out["why passages were kept"] = dict(self.reasons.most_common())
        return out
