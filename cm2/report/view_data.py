"""From trajectories and judge records to the viewer's data: turns, steps, every verdict, flips, rewards."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cm2.judging.records import JudgedRecord
from cm2.report.scoring import RolloutInput, satisfied_states, score_all
from cm2.report.view_models import (
    CallView,
    Cell,
    CellStatus,
    ItemInfo,
    ItemStatus,
    ResultView,
    RolloutView,
    StepView,
    TurnView,
    ViewData,
)
from cm2.reward import RewardConfig, TurnFlips, backfilled_rewards
from cm2.schema import AssistantStep, ChecklistItem, Dialogue, Trajectory, Turn, Verdict, checklist_turn
from cm2.schema.jsontext import loads_bounded
from cm2.scoring import RolloutScores

RECORDED_CLOSE = 1e-6


@dataclass(frozen=True)
class ViewSource:
    """One rollout to show: its trajectory (messages) and/or its judge record, and its training step."""

    trajectory: Trajectory | None = None
    judged: JudgedRecord | None = None
    train_step: int | None = None

    @property
    def record(self) -> Trajectory | JudgedRecord:
        record = self.judged or self.trajectory
        if record is None:
            raise ValueError("a view source needs a trajectory or a judge record")
        return record

    @property
    def verdicts(self) -> list[Verdict]:
        return self.judged.verdicts if self.judged is not None else self.record.verdicts

    def turns(self) -> list[Turn] | None:
        if self.trajectory is None:
            return None
        return self.trajectory.turns()

    def rollout_input(self) -> RolloutInput:
        record = self.record
        if self.trajectory is not None:
            counts = self.trajectory.steps_per_turn()
        else:
            counts = [len(steps) for steps in self.judged.advantages] if self.judged else []
        return RolloutInput(record.dialogue_uuid, record.group, record.rollout, record.checklist, self.verdicts, counts)


def clip(text: str | None, limit: int) -> str:
    """`text`, cut to `limit` characters with a note of how much was left out."""
    value = text or ""
    if len(value) <= limit:
        return value
    return value[:limit] + f"\n… [{len(value) - limit:,} more characters not shown]"


def pretty_json(value: str | dict[str, Any] | None) -> str:
    """JSON text indented for reading; anything that is not JSON comes back as it was."""
    if isinstance(value, dict):
        return json.dumps(value, indent=2, ensure_ascii=False)
    try:
        return json.dumps(loads_bounded(value or ""), indent=2, ensure_ascii=False)
    except json.JSONDecodeError:
        return value or ""


def item_info(item: ChecklistItem) -> ItemInfo:
    return ItemInfo(
        id=item.id,
        focus=item.focus_on,
        question=item.question,
        pass_condition=item.pass_condition,
        failure_examples=item.failure_examples,
        weight=item.weight,
        dependence=item.dependence,
        required=item.required_for_next_turn,
    )


def _step_view(step: AssistantStep, tool_sources: list[str], parse_errors: list[str], limit: int) -> StepView:
    split = step.assistant.think
    results = []
    for position, message in enumerate(step.tool_messages):
        source = tool_sources[position] if position < len(tool_sources) else "unrecorded"
        results.append(ResultView(name=message.name, content=clip(pretty_json(message.content), limit), source=source))
    return StepView(
        index=step.index,
        thinking=None if split.thinking is None else clip(split.thinking, limit),
        reply=clip(split.visible, limit),
        calls=[CallView(name=c.name, arguments=clip(pretty_json(c.function.arguments), limit)) for c in step.calls],
        results=results,
        parse_errors=parse_errors,
    )


def _cell(item: str, c: int, s: int, verdict: Verdict | None, before: bool, flips: TurnFlips | None) -> Cell:
    status: CellStatus
    if before:
        status = "carried"
    elif verdict is None or verdict.satisfied is None:
        status = "unk"
    else:
        status = "sat" if verdict.satisfied else "fail"
    cell = Cell(item=item, status=status)
    if verdict is not None:
        cell.verdict, cell.source, cell.reason, cell.votes = (
            verdict.satisfied,
            verdict.source,
            verdict.reason,
            verdict.votes,
        )
    if flips is not None:
        cell.flip = float(flips.rewards[s, c])
        cell.backfilled = float(backfilled_rewards(flips)[s, c])
        cell.eligible = bool(flips.eligible[s, c])
    return cell


def _final(states: np.ndarray, cells: list[list[Cell]], c: int) -> ItemStatus:
    if states[-1, c]:
        return "sat"
    return "unk" if any(step[c].status == "unk" for step in cells) else "fail"


def _turn_items(dialogue: Dialogue | None, checklist: int, turn: int, verdicts: list[Verdict]) -> list[str] | None:
    """Item ids of a turn: from the checklist when known (None: the turn has no checklist), else from verdicts."""
    if dialogue is not None:
        turn_items = checklist_turn(dialogue, checklist, turn)
        return turn_items.ids if turn_items is not None else None
    ids: list[str] = []
    for verdict in verdicts:
        if verdict.turn == turn and verdict.item not in ids:
            ids.append(verdict.item)
    return ids


def _turn_views(
    source: ViewSource, dialogue: Dialogue | None, scored: RolloutScores | None, limit: int
) -> list[TurnView]:
    record = source.record
    turns = source.turns()
    counts = source.rollout_input().steps
    lookup = {(v.turn, v.step, v.item): v for v in source.verdicts}
    step_meta: dict[tuple[int, int], dict[str, Any]] = {}
    if source.trajectory is not None:
        for entry in source.trajectory.metadata.get("steps") or []:
            if isinstance(entry, dict) and "turn" in entry and "step" in entry:
                step_meta[(int(entry["turn"]), int(entry["step"]))] = entry
    views = []
    for t, num_steps in enumerate(counts):
        turn = turns[t] if turns is not None else None
        items = _turn_items(dialogue, record.checklist, t, source.verdicts) or []
        flips = scored.flips[t] if scored is not None and t < len(scored.flips) else None
        raw = {(s, item): v.satisfied for (vt, s, item), v in lookup.items() if vt == t}
        states = flips.states if flips is not None else satisfied_states(raw, items, num_steps)
        steps: list[StepView] = []
        grid: list[list[Cell]] = []
        for s in range(num_steps):
            if turn is not None:
                meta = step_meta.get((t, s), {})
                view = _step_view(
                    turn.steps[s], list(meta.get("tool_sources") or []), meta.get("parse_errors") or [], limit
                )
            else:
                view = StepView(index=s)
            row = [
                _cell(item, c, s, lookup.get((t, s, item)), bool(states[s, c]), flips) for c, item in enumerate(items)
            ]
            view.cells = row
            grid.append(row)
            if scored is not None and t < len(scored.step_rewards):
                view.reward = scored.step_rewards[t][s]
            steps.append(view)
        earned = (
            {}
            if flips is None
            else {i: float(w * v) for i, w, v in zip(items, flips.spec.weights, flips.value, strict=True)}
        )
        views.append(
            TurnView(
                index=t,
                user=None if turn is None else clip(turn.user.content, limit),
                steps=steps,
                items=items,
                final={item: _final(states, grid, c) for c, item in enumerate(items)},
                earned=earned,
            )
        )
    return views


def _recorded(source: ViewSource) -> tuple[float | None, list[float] | None, str | None]:
    """The reward and turn rewards the rollout carries, and who wrote them."""
    if source.judged is not None:
        return source.judged.reward, source.judged.turn_rewards, "judge"
    rewards = source.trajectory.rewards if source.trajectory is not None else {}
    value = rewards.get("trajectory")
    turns = rewards.get("turns")
    if isinstance(value, int | float):
        return float(value), [float(r) for r in turns] if isinstance(turns, list) else None, "recorded"
    return None, None, None


def rollout_view(
    index: int, source: ViewSource, dialogue: Dialogue | None, scored: RolloutScores | None, level: str, limit: int
) -> RolloutView:
    """Everything the viewer shows of one rollout."""
    record = source.record
    known = dialogue is not None and 0 <= record.checklist < len(dialogue.checklists)
    view = RolloutView(
        key=f"r{index}",
        dialogue=record.dialogue_uuid,
        group=record.group,
        rollout=record.rollout,
        checklist=record.checklist,
        checklist_key=f"{record.dialogue_uuid}#{record.checklist}" if known else None,
        train_step=source.train_step,
        stop_reason=record.stop_reason,
        turns=_turn_views(source, dialogue if known else None, scored, limit),
    )
    if source.trajectory is not None and source.trajectory.messages and source.trajectory.messages[0].role == "system":
        view.system = clip(source.trajectory.messages[0].content, limit)
    reward, turn_rewards, origin = _recorded(source)
    if reward is None and scored is not None:
        reward, turn_rewards, origin = scored.reward, scored.turn_rewards, "recomputed"
    elif reward is not None and scored is not None and abs(reward - scored.reward) > RECORDED_CLOSE:
        view.notes.append(
            f"the {origin} reward {reward:.4f} differs from the one recomputed from the verdicts "
            f"({scored.reward:.4f}): was the run scored with another reward config or checklist?"
        )
    view.reward, view.reward_source = reward, origin
    for t, turn in enumerate(view.turns):
        if turn_rewards is not None and t < len(turn_rewards):
            turn.reward = turn_rewards[t]
    if source.judged is not None:
        view.level, view.valid, view.advantage = source.judged.level, source.judged.valid, source.judged.advantage
        advantages: list[list[float]] | None = source.judged.advantages
    elif scored is not None:
        view.level, view.valid, view.advantage, advantages = level, scored.valid, scored.advantage, scored.advantages
    else:
        advantages = None
    for turn, steps in zip(view.turns, advantages or [], strict=False):
        for step, advantage in zip(turn.steps, steps, strict=False):
            step.advantage = advantage
    statuses = {status for turn in view.turns for status in turn.final.values()}
    view.statuses = [s for s in ("sat", "fail", "unk") if s in statuses]
    if source.trajectory is None:
        view.notes.append("no trajectory for this judge record: messages are not shown (pass the trajectories file)")
    return view


def build_view(
    sources: Sequence[ViewSource],
    dialogues: dict[str, Dialogue],
    config: RewardConfig,
    *,
    title: str,
    max_chars: int = 20_000,
    notes: Sequence[str] = (),
) -> ViewData:
    """The viewer's data for `sources`: flips and per-step numbers recomputed where a dialogue is known."""
    scored, score_notes = score_all([s.rollout_input() for s in sources], dialogues, config)
    data = ViewData(title=title, notes=[*notes, *score_notes])
    if not dialogues:
        data.notes.append("no dialogues given: item questions, flips and per-step rewards need --dialogues")
    for index, (source, score) in enumerate(zip(sources, scored, strict=True)):
        dialogue = dialogues.get(source.record.dialogue_uuid)
        view = rollout_view(index, source, dialogue, score, config.level, max_chars)
        if view.checklist_key is not None and dialogue is not None and view.checklist_key not in data.checklists:
            checklist = dialogue.checklists[view.checklist]
            data.checklists[view.checklist_key] = [[item_info(item) for item in turn.items] for turn in checklist]
        data.rollouts.append(view)
    return data
