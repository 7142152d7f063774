"""End-of-job figures: counts, tokens and dollars (total and per dialogue), then the job's own numbers."""

from __future__ import annotations

from typing import Any

from cm2.annotate.jobs import JobReport


def job_summary(report: JobReport, out_name: str, side_name: str, *, llm: bool = True) -> dict[str, Any]:
    """The summary printed at the end of a job (`out_name`/`side_name` name its two outputs)."""
    s = report.summary
    out: dict[str, Any] = {
        out_name: s.written,
        side_name: s.side,
        "skipped (already done)": s.skipped,
        "repeated ids in input": s.duplicates,
        "unreadable input records": len(report.unreadable),
        "first unreadable record": ": ".join(report.unreadable[0]) if report.unreadable else "",
        "unfinished (endpoint failed; retried next run)": s.unfinished,
        "internal errors": s.errors,
        "retried from an earlier run": report.retried,
    }
    if llm:
        tokens = s.usage.prompt_tokens + s.usage.completion_tokens
        per = max(1, s.processed)
        out.update(
            {
                "prompt tokens": s.usage.prompt_tokens,
                "completion tokens": s.usage.completion_tokens,
                "cost usd": round(s.usage.cost_usd, 6),
                "tokens per dialogue": round(tokens / per, 1),
                "cost usd per dialogue": round(s.usage.cost_usd / per, 6),
            }
        )
    return {**out, **report.figures}
