"""One results format for every evaluation: a JSON record and a markdown table, written atomically."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field

from cm2.data.atomic import atomic_file
from cm2.llm import UsageMeter, UsageTotals
from cm2.llm.redact import redact_tree


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CategoryScore(BaseModel):
    """The score of one category (a benchmark category or domain, a checklist metric)."""

    score: Annotated[float, Field(description="Mean score in [0, 1] (accuracy, or mean checklist score).")]
    n: Annotated[int, Field(ge=0, description="Units the mean is over (entries, task×trial runs, rollouts).")]
    detail: Annotated[dict[str, float], Field(description="Further numbers of this category.")] = Field(
        default_factory=dict
    )


class CostReport(BaseModel):
    """Tokens and dollars per role (policy, judge, tool_simulator, user_simulator, …)."""

    roles: dict[str, UsageTotals] = Field(default_factory=dict)

    @property
    def total_usd(self) -> float:
        return sum(t.cost_usd for t in self.roles.values())

    @classmethod
    def from_meter(cls, meter: UsageMeter) -> CostReport:
        return cls(roles=meter.by_role())


class EvalResult(BaseModel):
    """What one evaluation run measured, and how it was run."""

    benchmark: Annotated[str, Field(description="The benchmark's name: checklist, or a plug-in's (cm2.benchmarks).")]
    model: Annotated[str, Field(description="The evaluated policy (served name or checkpoint).")]
    categories: Annotated[dict[str, CategoryScore], Field(description="Per-category scores, in report order.")]
    overall: Annotated[float, Field(description="The headline score in [0, 1] (see the benchmark's docs).")]
    n: Annotated[int, Field(ge=0, description="Units evaluated in all (entries, simulations, rollouts).")]
    metrics: Annotated[dict[str, float], Field(description="Further run-level numbers.")] = Field(default_factory=dict)
    cost: CostReport = Field(default_factory=CostReport)
    config: Annotated[dict[str, Any], Field(description="The settings of the run (no secrets).")] = Field(
        default_factory=dict
    )
    started_at: dt.datetime
    finished_at: dt.datetime
    git_commit: str | None = Field(default_factory=lambda: git_commit())
    notes: list[str] = Field(default_factory=list)

    def markdown(self) -> str:
        """A markdown report: the score table (percent, like the paper's tables), then cost and settings."""
        names = list(self.categories)
        head = ["model", *names, "overall", "n"]
        row = [self.model, *(f"{100 * self.categories[c].score:.2f}" for c in names), f"{100 * self.overall:.2f}"]
        row.append(str(self.n))
        lines = [
            f"# {self.benchmark} — {self.model}",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---" for _ in head) + "|",
            "| " + " | ".join(row) + " |",
            "",
            "Scores are percentages; n per category: " + ", ".join(f"{c} {self.categories[c].n}" for c in names) + ".",
        ]
        details = [(f"{c}.{k}", v) for c in names for k, v in self.categories[c].detail.items()]
        if self.metrics or details:
            lines += ["", "| metric | value |", "|---|---|"]
            lines += [f"| {k} | {v:.4g} |" for k, v in [*self.metrics.items(), *details]]
        if self.cost.roles:
            lines += ["", "| role | requests | prompt tokens | completion tokens | USD |", "|---|---|---|---|---|"]
            for role, t in self.cost.roles.items():
                lines.append(
                    f"| {role} | {t.requests} | {t.prompt_tokens} | {t.completion_tokens} | {t.cost_usd:.4f} |"
                )
            lines.append(f"| total | | | | {self.cost.total_usd:.4f} |")
        seconds = (self.finished_at - self.started_at).total_seconds()
        lines += ["", f"Run {self.started_at.isoformat()} → {self.finished_at.isoformat()} ({seconds:.1f} s)"]
        lines.append(f"git commit: {self.git_commit or 'unknown'}")
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def write(self, results_dir: str | Path) -> tuple[Path, Path]:
        """Write `<benchmark>.json` and `<benchmark>.md` into `results_dir` (atomically); returns both paths."""
        folder = Path(results_dir)
        json_path, md_path = folder / f"{self.benchmark}.json", folder / f"{self.benchmark}.md"
        with atomic_file(json_path) as tmp:
            public = redact_tree(self.model_dump(mode="json"))  # endpoint URLs in the config, without credentials
            tmp.write_text(json.dumps(public, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        with atomic_file(md_path) as tmp:
            tmp.write_text(self.markdown(), encoding="utf-8")
        return json_path, md_path


def git_commit() -> str | None:
    """The commit of the cm2 checkout this code runs from (`+dirty` when it has local changes), if any."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # never take the index lock of a checkout in use
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, env=env, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if status.strip() else head or None
