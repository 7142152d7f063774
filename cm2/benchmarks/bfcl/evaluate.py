"""BFCL-V4 multi-turn: run a policy on the entries and score them with `bfcl_eval`'s own checker.

Route (see cm2/benchmarks/bfcl/README.md): `bfcl-eval` is installed without its dependencies (it pins numpy 1.26.4,
which would downgrade the shared environment), so its `bfcl generate` CLI is not used. cm2 loads the
entries with `bfcl_eval.utils.load_dataset_entry`, runs BFCL's function-calling loop in-process
(`cm2.benchmarks.bfcl.loop`, executing calls on BFCL's backends) and scores each entry with
`bfcl_eval`'s `multi_turn_checker` against `possible_answer/`, as `bfcl evaluate` does. Accuracy per
category, overall = the unweighted mean of the categories (BFCL's leaderboard and the paper's Table 3).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from cm2.benchmarks.bfcl.calls import decode_turns
from cm2.benchmarks.bfcl.environment import MULTI_TURN_CATEGORIES
from cm2.benchmarks.bfcl.loop import BfclRuntime, EntryRun, bfcl_module, run_entry
from cm2.config import YamlConfig
from cm2.data import JsonlAppender
from cm2.eval.results import CategoryScore, CostReport, EvalResult, now
from cm2.llm import LLMConfig, UsageMeter, usage_key
from cm2.rollout.policy import ChatPolicy, SamplingConfig

OFFLINE_BLOCKED = {
    "web_search": "calls a hosted search API and fetches web pages",
    "memory_vector": "downloads an embedding model from a model hub when imported",
}


class BfclConfig(YamlConfig):
    """`cm2 eval bfcl`: the policy endpoint, which entries to run and how to sample."""

    policy: LLMConfig | None = Field(default=None, description="The evaluated policy's endpoint (or --checkpoint).")

    categories: list[str] = Field(default_factory=lambda: list(MULTI_TURN_CATEGORIES))
    ids: list[str] = Field(default_factory=list, description="Entry ids; when given, they pick the categories.")
    limit: int | None = Field(default=None, ge=1, description="First N entries of each category.")
    temperature: float = Field(default=0.001, ge=0, description="BFCL's default sampling temperature.")
    max_tokens: int | None = Field(default=None, ge=1, description="None: the server decides (as BFCL sends none).")
    concurrency: int = Field(default=8, ge=1, description="Entries run at once.")


class BfclEntryResult(BaseModel):
    """One scored entry: a line of `bfcl_entries.jsonl`."""

    id: str
    category: str
    model: str
    valid: bool
    error_type: str | None = None
    error_message: str | None = None
    turns: int
    steps: int
    force_quit: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    result: Any = Field(description="BFCL's model result: per turn, per step, the calls or text.")
    messages: list[dict[str, Any]] = Field(default_factory=list)


def _category(entry_id: str) -> str:
    return entry_id.rsplit("_", 1)[0]


def select_entries(settings: BfclConfig) -> list[tuple[dict[str, Any], list[list[str]]]]:
    """(entry as `bfcl_eval` loads it, ground truth per turn) for the chosen categories or ids."""
    utils = bfcl_module("bfcl_eval.utils")
    categories = list(dict.fromkeys(_category(i) for i in settings.ids)) if settings.ids else settings.categories
    wanted = set(settings.ids)
    selected: list[tuple[dict[str, Any], list[list[str]]]] = []
    for category in categories:
        for blocked, why in OFFLINE_BLOCKED.items():
            if blocked in category:
                raise ValueError(f"BFCL category {category!r} cannot run offline: it {why}")
        if category not in MULTI_TURN_CATEGORIES:
            raise ValueError(
                f"unknown BFCL multi-turn category {category!r}; known: {', '.join(MULTI_TURN_CATEGORIES)}"
            )
        answers = {a["id"]: a["ground_truth"] for a in utils.load_ground_truth_entry(category)}
        entries = [e for e in utils.load_dataset_entry(category) if not wanted or e["id"] in wanted]
        if settings.limit is not None:
            entries = entries[: settings.limit]
        selected += [(entry, answers[entry["id"]]) for entry in entries]
    missing = wanted - {entry["id"] for entry, _ in selected}
    if missing:
        raise ValueError(f"no BFCL entry {sorted(missing)[0]!r} (ids look like multi_turn_base_0)")
    return selected


def score_entry(
    entry: dict[str, Any], ground_truth: list[list[str]], run: EntryRun, name: str
) -> tuple[bool, str | None, str | None]:
    """(valid, error type, error message) as `bfcl evaluate` scores a multi-turn entry."""
    if run.error is not None:
        return False, "multi_turn:inference_error", run.error
    if len(run.responses) != len(ground_truth):
        message = f"force-terminated: {len(run.responses)} of {len(ground_truth)} turns answered"
        return False, "multi_turn:force_terminated", message
    decoded = decode_turns(entry, run.responses)  # checked and rebuilt: model text never reaches the checker
    checker = bfcl_module("bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker").multi_turn_checker
    try:
        verdict = checker(decoded, ground_truth, entry, _category(entry["id"]), name)
    except Exception as exc:  # BFCL's checker asserts on inconsistent instances
        return False, "multi_turn:checker_error", f"{type(exc).__name__}: {exc}"
    if verdict.get("valid"):
        return True, None, None
    return False, verdict.get("error_type"), str(verdict.get("error_message"))


async def evaluate_bfcl(
    policy: ChatPolicy,
    settings: BfclConfig,
    *,
    model: str,
    out_dir: str | Path,
    meter: UsageMeter | None = None,
    config: dict[str, Any] | None = None,
) -> EvalResult:
    """Run and score the selected entries; each finished entry is appended to `bfcl_entries.jsonl` in
    `out_dir` at once, and entries already there for the same `model` are not run again."""
    from tqdm import tqdm

    started = now()
    selected = select_entries(settings)
    # With max_tokens unset the CLI's policy sends none; 4096 only caps a policy that always sends one.
    sampling = SamplingConfig(temperature=settings.temperature, max_new_tokens=settings.max_tokens or 4096)
    path = Path(out_dir) / "bfcl_entries.jsonl"
    meter = meter or UsageMeter()
    results: dict[str, BfclEntryResult] = {}
    with JsonlAppender(path) as appender:
        for raw in _existing(path):
            if raw.get("model") == model:
                record = BfclEntryResult.model_validate(raw)
                results[record.id] = record
        todo = [(e, gt) for e, gt in selected if e["id"] not in results]
        semaphore = asyncio.Semaphore(settings.concurrency)
        progress = tqdm(total=len(selected), initial=len(selected) - len(todo), desc="bfcl", unit="entry")

        async def one(entry: dict[str, Any], ground_truth: list[list[str]]) -> None:
            async with semaphore:
                runtime = BfclRuntime(entry)
                try:
                    with usage_key(entry["id"]):
                        run = await run_entry(policy, entry, sampling, runtime)
                    valid, error_type, message = await asyncio.to_thread(
                        score_entry, entry, ground_truth, run, runtime.name
                    )
                finally:
                    runtime.close()
            usage = meter.by_key().get(entry["id"])
            record = BfclEntryResult(
                id=entry["id"],
                category=_category(entry["id"]),
                model=model,
                valid=valid,
                error_type=error_type,
                error_message=message,
                turns=len(run.responses),
                steps=run.steps,
                force_quit=run.force_quit,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                result=run.error if run.error is not None else run.responses,
                messages=[m.dump() for m in run.messages],
            )
            results[record.id] = record
            appender.write(record.model_dump(mode="json"))
            progress.update(1)

        try:
            await asyncio.gather(*(one(entry, gt) for entry, gt in todo))
        finally:
            progress.close()
    chosen = [results[entry["id"]] for entry, _ in selected]
    return _summary(chosen, settings, model, started, meter, config or {})


def _existing(path: Path) -> list[dict[str, Any]]:
    from cm2.data.jsonl import iter_jsonl

    return [raw.data for raw in iter_jsonl(path) if raw.data is not None] if path.exists() else []


def _summary(
    records: list[BfclEntryResult],
    settings: BfclConfig,
    model: str,
    started: dt.datetime,
    meter: UsageMeter,
    config: dict[str, Any],
) -> EvalResult:
    categories: dict[str, CategoryScore] = {}
    for category in dict.fromkeys(r.category for r in records):
        rows = [r for r in records if r.category == category]
        categories[category] = CategoryScore(
            score=sum(r.valid for r in rows) / len(rows),
            n=len(rows),
            detail={
                "force_terminated": sum(r.error_type == "multi_turn:force_terminated" for r in rows),
                "inference_errors": sum(r.error_type == "multi_turn:inference_error" for r in rows),
            },
        )
    overall = sum(c.score for c in categories.values()) / len(categories) if categories else 0.0
    steps = [r.steps for r in records]
    return EvalResult(
        benchmark="bfcl",
        model=model,
        categories=categories,
        overall=overall,
        n=len(records),
        metrics={"mean_steps_per_entry": sum(steps) / len(steps) if steps else 0.0},
        cost=CostReport.from_meter(meter),
        config={**config, "settings": settings.model_dump(mode="json", exclude={"policy"})},
        started_at=started,
        finished_at=now(),
        notes=[
            f"bfcl-eval {importlib.metadata.version('bfcl-eval')}: entries, tools, step limit and checker from the "
            "package; inference loop run in-process by cm2 (cm2/benchmarks/bfcl/README.md)",
            "overall = unweighted mean of the categories, as BFCL's multi-turn overall",
        ],
    )


def run_bfcl_eval(
    settings: BfclConfig, *, out: Path | None = None, checkpoint: Path | None = None, chat_template: Path | None = None
) -> tuple[EvalResult, Path]:
    """BFCL-V4 multi-turn: BFCL's function-calling loop on its real backends, scored by bfcl_eval's checker.

    Settings (`cm2.benchmarks.bfcl.BfclConfig`): policy.* (or a checkpoint, served for the run), categories,
    ids, limit, temperature (BFCL's 0.001), max_tokens (none sent by default), concurrency. Returns the result
    and the folder it belongs in (`cm2 eval bfcl` shows this text as its help)."""
    from cm2.eval.policy_endpoint import connect, out_dir, policy_endpoint

    meter = UsageMeter()
    with policy_endpoint(checkpoint, settings.policy, chat_template) as (endpoint, served):
        policy = connect(endpoint, meter, send_max_tokens=settings.max_tokens is not None)
        target = out_dir(out, endpoint.model)
        where = {"policy_base_url": "in-process" if served else endpoint.base_urls[0]}
        result = asyncio.run(
            evaluate_bfcl(policy, settings, model=endpoint.model, out_dir=target, meter=meter, config=where)
        )
    return result, target
