"""Judging files: load trajectories and dialogues, judge group by group, score, append, resume.

Groups are the rollouts of one dialogue with the same `group` label. A group's records are appended
only once the whole group is judged and scored (advantages need the whole group); a rerun skips the
rollouts already in the output and, thanks to the verdict cache, re-judges the rest of a torn group
for free.

A group where some verdict could not be obtained (judge down, 401, timeouts: `satisfied=None`) is
*unfinished*: it is not written, so the next run asks again (the verdicts that were obtained come from
the cache). Only `allow_partial` writes such groups, scored under the reward's `unknown` policy.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, ValidationError

from cm2.data import JsonlAppender, RawRecord, RecordError, iter_records, read_dialogues
from cm2.data.errors import no_usable_records
from cm2.data.io import Problem
from cm2.judge.judge import ChecklistJudge
from cm2.judge.result import JudgeUsage, TrajectoryJudgement
from cm2.judging.records import JudgedRecord, judged_records
from cm2.reward import RewardConfig
from cm2.schema import Dialogue, Trajectory, Verdict

RolloutKey = tuple[str, str | None, int]
Group = list[Trajectory]


def _key(trajectory: Trajectory) -> RolloutKey:
    return trajectory.dialogue_uuid, trajectory.group, trajectory.rollout


def _trajectory(raw: RawRecord) -> Trajectory:
    if raw.data is None:
        raise RecordError(raw.location, raw.error or "unreadable record")
    try:
        return Trajectory.model_validate(raw.data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "record"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise RecordError(raw.location, f"not a trajectory: {where}: {first['msg']}{more}") from None


def load_groups(path: str | os.PathLike[str], problems: list[Problem] | None = None) -> list[Group]:
    """The trajectories of a file, grouped by (dialogue, group) in order of first appearance.

    With a `problems` list, a bad or repeated record is left out and noted there; without one it raises.
    """
    groups: dict[tuple[str, str | None], Group] = {}
    seen: dict[RolloutKey, str] = {}
    for raw in iter_records(path):
        try:
            trajectory = _trajectory(raw)
            key = _key(trajectory)
            if key in seen:
                raise RecordError(
                    raw.location, f"rollout {key[2]} of dialogue {key[0]} (group {key[1]}) already at {seen[key]}"
                )
        except RecordError as exc:
            if problems is None:
                raise
            problems.append((exc.location, exc.message))
            continue
        seen[key] = raw.location
        groups.setdefault(key[:2], []).append(trajectory)
    return list(groups.values())


def load_dialogues(
    path: str | os.PathLike[str], uuids: set[str], problems: list[Problem] | None = None
) -> dict[str, Dialogue]:
    """The dialogues named by `uuids`, their checklists checked. Without a `problems` list the first bad
    record or missing dialogue raises; with one they are noted there and left out."""
    found = {d.uuid: d for d in read_dialogues(path, errors=problems) if d.uuid in uuids}
    missing = sorted(uuids - found.keys())
    if missing and problems is None:
        raise ValueError(
            f"{path}: no dialogue {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if missing[1:] else "")
        )
    problems = problems if problems is not None else []
    problems.extend((str(path), f"no usable dialogue {uuid!r} (its rollouts are not judged)") for uuid in missing)
    return found


def load_inputs(
    trajectories: str | os.PathLike[str], dialogues: str | os.PathLike[str], problems: list[Problem]
) -> tuple[list[Group], dict[str, Dialogue]]:
    """Every group that can be judged and its dialogues, read before any judge call; what cannot is noted
    in `problems`. Raises `NoUsableRecordsError` when no group can be judged."""
    groups = load_groups(trajectories, problems)
    by_uuid = load_dialogues(dialogues, {group[0].dialogue_uuid for group in groups}, problems)
    usable = [group for group in groups if group[0].dialogue_uuid in by_uuid]
    if not usable:
        raise no_usable_records(f"{trajectories} with {dialogues}", problems)
    return usable, by_uuid


def done_rollouts(out: Path) -> set[RolloutKey]:
    """Rollouts already written to `out` (complete lines only)."""
    if not out.exists():
        return set()
    return {
        (raw.data["dialogue_uuid"], raw.data.get("group"), int(raw.data["rollout"]))
        for raw in iter_records(out, "jsonl")
        if raw.data is not None and "dialogue_uuid" in raw.data and "rollout" in raw.data
    }


class RunSummary(BaseModel):
    """What one run did."""

    groups: int = 0
    written: int = 0
    skipped: int = 0
    usage: JudgeUsage = Field(default_factory=JudgeUsage)
    reward_sum: float = 0.0
    valid: int = 0
    unfinished: Annotated[int, Field(description="Rollouts not written: some verdict could not be obtained.")] = 0
    unfinished_groups: int = 0
    partial: Annotated[
        int, Field(description="Rollouts written with unobtainable verdicts (allow_partial), under `unknown`.")
    ] = 0
    first_unavailable: Annotated[str | None, Field(description="Where and why the first verdict was missing.")] = None
    rejected: list[Problem] = Field(default_factory=list, description="Input records left out: (where, why).")

    @property
    def mean_reward(self) -> float | None:
        """Mean reward of the valid rollouts written (those a dropped verdict invalidated do not count)."""
        return self.reward_sum / self.valid if self.valid else None

    def add(self, records: Sequence[JudgedRecord]) -> None:
        for record in records:
            self.written += 1
            if record.valid:
                self.valid += 1
                self.reward_sum += record.reward
            for name in JudgeUsage.model_fields:
                setattr(self.usage, name, getattr(self.usage, name) + getattr(record.judge, name))

    def count_unavailable(self, records: Sequence[JudgedRecord]) -> int:
        """Rollouts of `records` with an unobtainable verdict; remembers the first such verdict."""
        count = 0
        for record in records:
            verdict = _first_missing(record.verdicts)
            if verdict is None:
                continue
            count += 1
            if self.first_unavailable is None:
                self.first_unavailable = (
                    f"dialogue {record.dialogue_uuid}, rollout {record.rollout}, turn {verdict.turn}, "
                    f"step {verdict.step}, item {verdict.item}: {verdict.reason or 'no verdict'}"
                )
        return count


def _first_missing(verdicts: Sequence[Verdict]) -> Verdict | None:
    return next((verdict for verdict in verdicts if verdict.satisfied is None), None)


async def judge_files(
    trajectories: str | os.PathLike[str],
    dialogues: str | os.PathLike[str],
    out: Path,
    judge: ChecklistJudge,
    reward: RewardConfig,
    *,
    groups_in_flight: int = 8,
    on_trajectory: Callable[[TrajectoryJudgement], None] | None = None,
    on_group: Callable[[list[JudgedRecord], Dialogue], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    allow_partial: bool = False,
) -> RunSummary:
    """Judge every trajectory of `trajectories` not yet in `out`, appending one `JudgedRecord` per line.

    Both files are read and checked first (checklists included); bad records and rollouts without a usable
    dialogue are left out and listed in the summary's `rejected`.

    Groups are judged `groups_in_flight` at a time and written in input order. `on_start` gets the
    number of trajectories to judge. A group with an unobtainable verdict is left out (counted in
    `unfinished`) unless `allow_partial`.
    """
    rejected: list[Problem] = []
    groups, by_uuid = load_inputs(trajectories, dialogues, rejected)
    done = done_rollouts(out)
    summary = RunSummary(rejected=rejected)
    todo = []
    for group in groups:
        if all(_key(t) in done for t in group):
            summary.skipped += len(group)
        else:
            todo.append(group)
    if on_start is not None:
        on_start(sum(len(group) for group in todo))

    async def one(group: Group) -> list[JudgedRecord]:
        dialogue = by_uuid[group[0].dialogue_uuid]
        judgements = await judge.judge_many(((t, dialogue) for t in group), on_done=on_trajectory)
        return judged_records(dialogue, group, judgements, reward)

    with JsonlAppender(out) as appender:
        for start in range(0, len(todo), groups_in_flight):
            window = todo[start : start + groups_in_flight]
            for group, records in zip(window, await asyncio.gather(*(one(g) for g in window)), strict=True):
                fresh = [r for r in records if (r.dialogue_uuid, r.group, r.rollout) not in done]
                incomplete = summary.count_unavailable(fresh)
                if incomplete and not allow_partial:
                    summary.unfinished += len(fresh)
                    summary.unfinished_groups += 1
                    continue
                summary.partial += incomplete
                appender.write_many(r.model_dump(mode="json") for r in fresh)
                summary.groups += 1
                summary.skipped += len(records) - len(fresh)
                summary.add(fresh)
                if on_group is not None:
                    on_group(fresh, by_uuid[group[0].dialogue_uuid])
    return summary
