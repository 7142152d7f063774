"""Running an annotation job against the configured endpoint, and its end-of-job summary."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cm2.annotate.config import AnnotateConfig
from cm2.annotate.jobs import JobReport
from cm2.llm import LLMClient, LLMConfig, UsageMeter, make_client

NO_ENDPOINT = "no annotating model: set llm (--set llm.model=NAME --set llm.base_url=URL, or `llm:` in --config)"


def endpoint(config: AnnotateConfig) -> LLMConfig:
    """The annotating endpoint; ValueError when the config names none."""
    if config.llm is None:
        raise ValueError(NO_ENDPOINT)
    return config.llm


def run_with_llm(
    llm: LLMConfig, role: str, job: Callable[[LLMClient], Awaitable[JobReport]]
) -> tuple[JobReport, dict[str, Any]]:
    """Run `job` with a client of `llm` (closed afterwards); the report and the request counts."""
    meter = UsageMeter()

    async def main() -> JobReport:
        client = make_client(llm, role=role, meter=meter)
        try:
            return await job(client)
        finally:
            close = getattr(client, "aclose", None)
            if close is not None:
                await close()

    report = asyncio.run(main())
    total = meter.total()
    return report, {"LLM requests": total.requests, "LLM requests failed": total.failed, "cached": total.cached}


def side_path(out: Path, side: Path | None, name: str) -> Path:
    """The failures / rejections file beside `out` (OUT.<name>.jsonl) unless one is given."""
    return side if side is not None else out.with_name(f"{out.name.removesuffix('.jsonl')}.{name}.jsonl")


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    """The summary as JSON, written atomically."""
    from cm2.data.atomic import atomic_file

    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
