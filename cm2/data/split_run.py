"""Running a split over a file: plan in one pass, write the three sets in a second, then the manifest.

The outputs are the input's record dicts exactly as read (no re-serialised models), one JSONL file
per set, each written atomically; the manifest is written last, so its presence means the split
finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, Field

from cm2.data.adapters import checked_dialogue, to_dialogue
from cm2.data.atomic import atomic_file
from cm2.data.errors import RecordError, no_usable_records
from cm2.data.io import file_format, iter_records
from cm2.data.jsonl import dumps_line
from cm2.data.split import OUTPUT_PARTS, Part, SplitConfig, SplitCounts, SplitPlanner

MANIFEST_NAME = "split_manifest.json"
MAX_LISTED = 1000
"""At most this many duplicate or invalid records are listed by name in the manifest (all are counted)."""

ProgressHook = Callable[[str, int], None]
"""Called as `hook(stage, records_done)` every `PROGRESS_EVERY` records; stage is "plan" or "write"."""
PROGRESS_EVERY = 1000


class InputInfo(BaseModel):
    path: str
    format: str = Field(description="File format, as given or detected from the path.")
    sha256: str = Field(description="Of the file, or of a directory's files in path order.")
    records: int


class OutputInfo(BaseModel):
    path: str
    records: int
    sha256: str


class Located(BaseModel):
    location: str
    uuid: str | None = None
    error: str | None = None


class SplitManifest(BaseModel):
    """What a split read, how it was configured and what it wrote."""

    seed: int
    input: InputInfo
    config: SplitConfig
    counts: SplitCounts
    outputs: dict[str, OutputInfo]
    duplicates: list[Located] = Field(default_factory=list, description=f"First {MAX_LISTED} later occurrences.")
    invalid: list[Located] = Field(default_factory=list, description=f"First {MAX_LISTED} unreadable records.")


def path_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, or of every file under a directory (relative path and content, sorted by path)."""
    source = Path(path)
    digest = hashlib.sha256()
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for file in files:
        if file is not source:
            digest.update(file.relative_to(source).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def _tick(hook: ProgressHook | None, stage: str, done: int) -> None:
    if hook is not None and done % PROGRESS_EVERY == 0:
        hook(stage, done)


def plan_split(
    path: str | os.PathLike[str],
    config: SplitConfig,
    *,
    fmt: str | None = None,
    skip_invalid: bool = False,
    progress: ProgressHook | None = None,
) -> tuple[SplitPlanner, list[Located]]:
    """First pass: read every record, convert it, feed the planner. Raises `RecordError` on a bad
    record unless `skip_invalid`, in which case it is kept out of every set and listed."""
    planner = SplitPlanner(config)
    invalid: list[Located] = []
    for raw in iter_records(path, fmt):
        try:
            if raw.data is None:
                raise RecordError(raw.location, raw.error or "unreadable record")
            planner.add(checked_dialogue(to_dialogue(raw.data, location=raw.location), raw.location))
        except RecordError as exc:
            if not skip_invalid:
                raise RecordError(exc.location, f"{exc.message} (skip_invalid leaves such records out)") from None
            planner.add_invalid()
            if len(invalid) < MAX_LISTED:
                invalid.append(Located(location=exc.location, error=exc.message))
        _tick(progress, "plan", len(planner))
    return planner, invalid


def run_split(
    path: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    config: SplitConfig,
    *,
    fmt: str | None = None,
    skip_invalid: bool = False,
    progress: ProgressHook | None = None,
) -> SplitManifest:
    """Split the pool at `path` into `outdir`/{cold_start,rl_train,rl_val}.jsonl plus the manifest."""
    source, target = Path(path), Path(outdir)
    sha256 = path_sha256(source)
    planner, invalid = plan_split(source, config, fmt=fmt, skip_invalid=skip_invalid, progress=progress)
    plan = planner.plan()
    if len(plan.parts) == plan.counts.invalid:
        raise no_usable_records(source, [(item.location, item.error or "") for item in invalid], len(plan.parts))

    names = {part: target / f"{name}.jsonl" for part, name in OUTPUT_PARTS.items()}
    digests = {part: hashlib.sha256() for part in names}
    written = dict.fromkeys(names, 0)
    duplicates: list[Located] = []
    seen = 0
    with contextlib.ExitStack() as stack:
        handles: dict[Part, IO[bytes]] = {}
        for part, file in names.items():
            handles[part] = stack.enter_context(open(stack.enter_context(atomic_file(file)), "wb"))
        for index, raw in enumerate(iter_records(source, fmt)):
            if index >= len(plan.parts):
                raise RuntimeError(f"{source} changed during the split; nothing written")
            part = plan.part(index)
            if part in handles and raw.data is not None:
                line = dumps_line(raw.data)
                handles[part].write(line)
                digests[part].update(line)
                written[part] += 1
            elif part is Part.DUPLICATE and len(duplicates) < MAX_LISTED and raw.data is not None:
                duplicates.append(
                    Located(location=raw.location, uuid=to_dialogue(raw.data, location=raw.location).uuid)
                )
            seen = index + 1
            _tick(progress, "write", seen)
        expected = {part: getattr(plan.counts, OUTPUT_PARTS[part]).selected for part in names}
        if seen != len(plan.parts) or written != expected or path_sha256(source) != sha256:
            raise RuntimeError(f"{source} changed during the split; nothing written")

    manifest = SplitManifest(
        seed=config.seed,
        input=InputInfo(path=str(source), format=file_format(source, fmt), sha256=sha256, records=len(plan.parts)),
        config=config,
        counts=plan.counts,
        outputs={
            OUTPUT_PARTS[part]: OutputInfo(path=str(file), records=written[part], sha256=digests[part].hexdigest())
            for part, file in names.items()
        },
        duplicates=duplicates,
        invalid=invalid,
    )
    write_manifest(target / MANIFEST_NAME, manifest)
    return manifest


def write_manifest(path: Path, manifest: SplitManifest) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load_manifest(path: str | os.PathLike[str]) -> SplitManifest:
    return SplitManifest.model_validate_json(Path(path).read_text(encoding="utf-8"))


def manifest_summary(manifest: SplitManifest) -> dict[str, Any]:
    """The figures a person looks at first."""
    counts = manifest.counts
    return {
        "records": counts.records,
        "invalid": counts.invalid,
        "duplicates": counts.duplicates,
        "rl_eligible": counts.rl_eligible,
        **{name: getattr(counts, name).selected for name in ("cold_start", "rl_train", "rl_val")},
        "unused": counts.unused,
    }


def manifest_table(manifest: SplitManifest) -> tuple[str, list[str], list[list[str]]]:
    """Title, columns and rows of the split a person reads: per set, requested, candidates and selected."""
    parts = {name: getattr(manifest.counts, name) for name in OUTPUT_PARTS.values()}
    rows = [[n, f"{p.requested:,}", f"{p.candidates:,}", f"{p.selected:,}", f"{n}.jsonl"] for n, p in parts.items()]
    title = f"split of {manifest.input.records:,} records (seed {manifest.seed})"
    return title, ["set", "requested", "candidates", "selected", "file"], rows


def manifest_notes(manifest: SplitManifest, outdir: Path) -> list[str]:
    """The other counts, then a warning per short set and for duplicate uuids."""
    counts = manifest.counts
    notes = [
        f"RL-eligible {counts.rl_eligible:,} · unused {counts.unused:,} · duplicates {counts.duplicates:,}"
        f" · invalid {counts.invalid:,} → {outdir / MANIFEST_NAME}"
    ]
    for name in OUTPUT_PARTS.values():
        if short := getattr(counts, name).short:
            notes.append(f"warning: {name}: {short:,} fewer than requested (not enough candidates)")
    if counts.duplicates:
        first = ", ".join(item.uuid or item.location for item in manifest.duplicates[:5])
        notes.append(f"warning: {counts.duplicates:,} duplicate uuids left out (e.g. {first})")
    return notes
