"""`cm2 data import-bfcl`: BFCL-V4 multi-turn entries as reference dialogues, with a manifest.

Entries are picked by category, demo split (`cm2.benchmarks.bfcl.split`), involved classes, ids and a per-category
limit; each becomes a dialogue (`cm2.benchmarks.bfcl.dialogue`) and is checked with cm2's rule filters. Entries
that cannot become a dialogue, or whose dialogue breaks a rule (a ground-truth argument outside its tool's
schema, say), are left out and listed with the reason in the manifest written next to the output
(`OUT.manifest.json`), together with the split rule and the ids of each split.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from cm2.annotate.config import ReferenceLabelConfig, TurnCheckConfig
from cm2.benchmarks.bfcl.dialogue import ToolDocs, UnsupportedEntry, entry_to_dialogue
from cm2.benchmarks.bfcl.split import SPLIT_RULE, SplitChoice, in_split, split_of

SUPPORTED_CATEGORIES = ("multi_turn_base", "multi_turn_miss_param", "multi_turn_long_context")
UNSUPPORTED = {
    "multi_turn_miss_func": "it withholds functions until a later turn, and a cm2 dialogue has one tool list for "
    "all its turns (the withheld function would be visible in the turn whose reference answer is 'I cannot')",
}


class ImportOptions(BaseModel):
    """Which BFCL entries to import and how."""

    categories: list[str] = Field(default_factory=lambda: ["multi_turn_base"], description="BFCL-V4 categories.")
    split: SplitChoice = Field(default="all", description="train, heldout (the demo split) or all.")
    limit: Annotated[int | None, Field(ge=1, description="At most N entries per category (in id order).")] = None
    ids: list[str] = Field(default_factory=list, description="Only these entry ids (still within the split).")
    classes: list[str] = Field(
        default_factory=list, description="Only entries whose backends are all among these classes (e.g. TradingBot)."
    )
    tool_docs: ToolDocs = Field(
        default="full", description="full: BFCL's docs; compact: first sentence, no parameter or response docs."
    )
    reply_item: bool = Field(
        default=False,
        description="Add a checklist item for each turn's reply (needs an LLM judge; call items are checked in code).",
    )

    turn_checks: bool = Field(
        default=True,
        description="Add each turn's code-checked turn-end items: a visible reply, the call budget and BFCL's state "
        "check (off: call items only).",
    )
    call_budget_slack: int | None = Field(
        default=0,
        ge=0,
        description="Call attempts allowed beyond the reference's before the call-budget item fails; -1 or None: "
        "no budget item.",
    )

    @field_validator("call_budget_slack", mode="before")
    @classmethod
    def _minus_one_is_none(cls, slack: Any) -> Any:
        return None if slack in (-1, "-1") else slack  # a command-line flag cannot say None

    @field_validator("categories")
    @classmethod
    def _known(cls, categories: list[str]) -> list[str]:
        for category in categories:
            if category in UNSUPPORTED:
                raise ValueError(f"{category} cannot be imported: {UNSUPPORTED[category]}")
            if category not in SUPPORTED_CATEGORIES:
                raise ValueError(f"unknown category {category!r}; supported: {', '.join(SUPPORTED_CATEGORIES)}")
        if not categories:
            raise ValueError("name at least one category")
        return list(dict.fromkeys(categories))


class SkippedEntry(BaseModel):
    id: str
    reason: str


class ImportManifest(BaseModel):
    """What an import wrote: the source, the split rule, the ids of each split and what was left out."""

    output: str
    source: str = Field(description="The bfcl-eval package and version the entries and backends came from.")
    split_rule: str = SPLIT_RULE
    options: ImportOptions
    counts: dict[str, int] = Field(description="Dialogues written per demo split.")
    ids: dict[str, list[str]] = Field(description="Entry ids written, per demo split.")
    skipped: list[SkippedEntry] = Field(default_factory=list)
    created_at: str = ""


def manifest_path(out: str | Path) -> Path:
    """Where the manifest of an import into `out` goes: `OUT.manifest.json`."""
    target = Path(out)
    return target.with_name(target.name + ".manifest.json")


def select_entries(options: ImportOptions) -> list[dict[str, Any]]:
    """The entries the options pick, category by category in id order."""
    from cm2.benchmarks.bfcl.environment import load_entries

    wanted = set(options.ids)
    classes = set(options.classes)
    picked: list[dict[str, Any]] = []
    for category in options.categories:
        taken = 0
        for entry in load_entries(category):
            entry_id = str(entry["id"])
            if wanted and entry_id not in wanted:
                continue
            if not in_split(entry_id, options.split):
                continue
            if classes and not set(entry.get("involved_classes", [])) <= classes:
                continue
            picked.append(entry)
            taken += 1
            if options.limit is not None and taken >= options.limit:
                break
    missing = wanted - {str(e["id"]) for e in picked}
    if missing and options.limit is None:
        raise ValueError(f"entry ids not found in the chosen categories and split: {', '.join(sorted(missing))}")
    return picked


def convert(entries: list[dict[str, Any]], options: ImportOptions, skipped: list[SkippedEntry]) -> Iterator[Any]:
    """Each entry as a rule-clean dialogue; the others are appended to `skipped` with the reason."""
    from cm2.benchmarks.bfcl.environment import load_ground_truth
    from cm2.data.filters import check_record

    labeling = ReferenceLabelConfig(
        final_reply_item=options.reply_item,
        turn_checks=TurnCheckConfig(
            mode="on" if options.turn_checks else "off", call_budget_slack=options.call_budget_slack
        ),
    )
    for entry in entries:
        entry_id = str(entry["id"])
        try:
            dialogue = entry_to_dialogue(
                entry, load_ground_truth(entry_id), tool_docs=options.tool_docs, labeling=labeling
            )
        except UnsupportedEntry as exc:
            skipped.append(SkippedEntry(id=entry_id, reason=str(exc)))
            continue
        record = dialogue.dump()
        violations = check_record(record, location=entry_id)
        if violations:
            reasons = "; ".join(f"{v.rule}: {v.reason}" for v in violations[:3])
            skipped.append(SkippedEntry(id=entry_id, reason=f"fails the rule filters ({reasons})"))
            continue
        yield record


def import_bfcl(out: str | Path, options: ImportOptions, *, progress: bool = True) -> ImportManifest:
    """Write the selected entries as dialogues to `out` (any format cm2 writes; replaced atomically) and the
    manifest beside it; returns the manifest."""
    from cm2.console import progress as show_progress
    from cm2.data.atomic import atomic_file
    from cm2.data.io import write_records

    entries = select_entries(options)
    skipped: list[SkippedEntry] = []
    ids: dict[str, list[str]] = {"train": [], "heldout": []}
    with show_progress("importing BFCL entries", len(entries), enabled=progress, transient=True) as tick:

        def records() -> Iterator[dict[str, Any]]:
            for record in convert(entries, options, skipped):
                ids[split_of(record["uuid"])].append(record["uuid"])
                tick()
                yield record
            tick(completed=len(entries))

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_records(out, records())
    manifest = ImportManifest(
        output=str(out),
        source=f"bfcl-eval {importlib.metadata.version('bfcl-eval')}",
        options=options,
        counts={name: len(values) for name, values in ids.items()},
        ids=ids,
        skipped=skipped,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    with atomic_file(manifest_path(out)) as tmp:
        tmp.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    return manifest
