"""`cm2 view`: the trajectory viewer as one standalone HTML page, for any trajectory or judge-output file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cm2.data.atomic import atomic_file
from cm2.data.errors import no_usable_records
from cm2.report.dialogues import load_dialogues, run_dialogues_path
from cm2.report.html import render_view
from cm2.report.records import attach_messages, load_records
from cm2.report.run_dir import CONFIG_FILE, RunData, assign_steps, load_run
from cm2.report.view_data import ViewSource, build_view
from cm2.reward import RewardConfig
from cm2.schema import Dialogue


@dataclass
class ViewResult:
    html: Path
    rollouts: int
    notes: list[str] = field(default_factory=list)


def _run_of(path: Path) -> RunData | None:
    """The run directory a trajectory file sits in (it has an rl_config.json), loaded; else None."""
    if (path.parent / CONFIG_FILE).is_file():
        run = load_run(path.parent)
        if (path.parent / run.config.trajectories_file).resolve() == path.resolve():
            return run
    return None


def view_sources(
    path: str | os.PathLike[str], trajectories: str | os.PathLike[str] | None = None
) -> tuple[list[ViewSource], list[str], RunData | None]:
    """The rollouts of a file (trajectories, or judge records joined to `trajectories` for their messages)."""
    source = Path(path)
    run = _run_of(source)
    loaded = load_records(source)
    notes = list(loaded.notes)
    steps: list[int | None] = [t.metadata.get("train_step") for t in loaded.trajectories]
    if run is not None:
        steps = list(assign_steps(loaded.trajectories, run.config)[0])
    sources = [ViewSource(trajectory=t, train_step=s) for t, s in zip(loaded.trajectories, steps, strict=True)]
    if loaded.judged:
        matches = attach_messages(loaded.judged, load_records(trajectories).trajectories) if trajectories else []
        for i, record in enumerate(loaded.judged):
            trajectory = matches[i] if matches else None
            step = trajectory.metadata.get("train_step") if trajectory is not None else None
            sources.append(ViewSource(trajectory=trajectory, judged=record, train_step=step))
        missing = sum(match is None for match in matches) if trajectories else len(loaded.judged)
        if missing:
            notes.append(f"{missing} judge record(s) without their trajectory: messages not shown (see --trajectories)")
    return sources, notes, run


def write_view(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    dialogues: str | os.PathLike[str] | None = None,
    trajectories: str | os.PathLike[str] | None = None,
    reward: dict[str, str] | None = None,
    max_rollouts: int | None = None,
    max_chars: int = 20_000,
) -> ViewResult:
    """Write the viewer page for `path` to `out`.

    In a run directory, the run's reward config (updated with `reward`) and data file are the defaults.
    """
    sources, notes, run = view_sources(path, trajectories)
    if not sources:
        raise no_usable_records(path, [(str(path), "; ".join(notes) or "no rollouts")])
    if max_rollouts is not None and len(sources) > max_rollouts:
        notes.append(f"showing the first {max_rollouts} of {len(sources)} rollouts (--max-rollouts)")
        sources = sources[:max_rollouts]
    base = run.reward if run is not None else RewardConfig()
    config = RewardConfig.model_validate({**base.model_dump(), **(reward or {})})
    dialogue_path = dialogues or (run_dialogues_path(run) if run is not None else None)
    known: dict[str, Dialogue] = {}
    if dialogue_path is not None:
        known, found_notes = load_dialogues(dialogue_path, {s.record.dialogue_uuid for s in sources})
        notes.extend(found_notes)
    data = build_view(
        sources, known, config, title=f"cm2 trajectories: {Path(path).name}", max_chars=max_chars, notes=notes
    )
    target = Path(out)
    subtitle = f"{path} · {len(data.rollouts)} rollouts · reward level {config.level}, scale {config.scale}"
    with atomic_file(target) as tmp:
        tmp.write_text(render_view(data, subtitle), encoding="utf-8")
    return ViewResult(target, len(data.rollouts), data.notes)
