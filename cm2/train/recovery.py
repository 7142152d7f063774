"""Recovery examples for SFT: a reference turn that makes one of its calls a step too early, gets the tool's
error, then makes the call it skipped and goes on as the reference does.

Reference dialogues hold no failed call, so a model fine-tuned on them alone ends its turn after one: in run 13
of `results/learning/`, after 69 of 77 failed calls on held-out turns, and RL cannot reinforce a recovery its
samples never try. A variant is kept only when the early call really fails in the dialogue's tool environment
and the turn, played on from there, leaves the environment in the reference state (where the environment reports
its state). The early call's message is context, not a target: SFT leaves it out of the loss (`UNTRAINED`), so
the model learns the recovery, not the mistake. A variant ends with its turn.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from cm2.rollout.episode import replay_context
from cm2.schema import Dialogue, Message, ToolCall, join_think
from cm2.schema.dialogue import AssistantStep, Turn
from cm2.tools.environment import ReportsState
from cm2.tools.environments import DialogueEnvironments
from cm2.tools.result import ToolResult
from cm2.train.sft_data import UNTRAINED

VARIANT_SEPARATOR = "@recovery"


@dataclass
class RecoveryReport:
    """What came of the turns tried."""

    dialogues: int = 0
    tried: int = 0
    early_call_worked: int = 0
    state_differs: int = 0
    made: int = 0

    def summary(self) -> dict[str, int]:
        return dict(vars(self))


def _names(calls: list[ToolCall]) -> str:
    return " and ".join(f"`{call.name}`" for call in calls)


def _error_text(result: ToolResult) -> str:
    try:
        body = json.loads(result.content)
        message = body["error_tool_call"]["message"]
    except (ValueError, KeyError, TypeError):
        message = result.content
    text = " ".join(str(message).split())[:200].rstrip(".")
    return f"{text}."


def recovery_thinking(early: list[ToolCall], error: str, skipped: list[ToolCall]) -> str:
    """The plan of the message that recovers: what failed, why, and the call that has to come first."""
    return f"{_names(early)} failed: {error} {_names(skipped)} has to run before it, so I call it now."


async def variant(
    dialogue: Dialogue, turn: Turn, skipped: AssistantStep, early: AssistantStep, environments: DialogueEnvironments
) -> Dialogue | str:
    """The dialogue up to the end of `turn`, where `early` is made in place of `skipped` first; a reason (the
    report's field name) when the early call works or the turn played on misses the reference state."""
    env = environments(dialogue)
    head = dialogue.messages[: turn.start + skipped.message_index]
    await replay_context(env, head)
    attempt_calls = [call.model_copy(update={"id": f"{call.id or call.name}-early"}) for call in early.calls]
    results = [await env.call(call) for call in attempt_calls]
    if not all(result.is_error for result in results):
        return "early_call_worked"
    attempt = Message(
        role="assistant", content=join_think(f"Next: {_names(early.calls)}.", ""), tool_calls=attempt_calls
    )
    answers = [
        Message(role="tool", content=result.content, tool_call_id=call.id, name=call.name)
        for call, result in zip(attempt_calls, results, strict=True)
    ]
    retry = skipped.assistant.model_copy(
        update={
            "content": join_think(
                recovery_thinking(early.calls, _error_text(results[0]), skipped.calls), skipped.assistant.visible_text
            )
        }
    )
    rest = turn.messages[skipped.message_index + 1 :]
    await replay_context(env, [retry, *rest])
    if isinstance(env, ReportsState):
        report = env.state_report(dialogue.first_turn + turn.index)
        if report is not None and not report.matched:
            return "state_differs"
    record = dialogue.dump()
    record.update(
        uuid=f"{dialogue.uuid}{VARIANT_SEPARATOR}{turn.index}",
        messages=[m.dump() for m in [*head, attempt, *answers, retry, *rest]],
        checklists=[],
    )
    record[UNTRAINED] = [len(head)]
    return Dialogue.model_validate(record)


def _candidates(dialogue: Dialogue) -> list[tuple[Turn, AssistantStep, AssistantStep]]:
    """(turn, skipped step, early step) for each call step that has a call step right before it."""
    out: list[tuple[Turn, AssistantStep, AssistantStep]] = []
    for turn in dialogue.turns():
        steps = [step for step in turn.steps if step.calls]
        out.extend((turn, before, after) for before, after in pairwise(steps))
    return out


def _order(dialogue: Dialogue, count: int, seed: int) -> list[int]:
    """A fixed, seed-dependent order of a dialogue's candidates."""
    key = hashlib.sha256(f"{seed}:{dialogue.uuid}".encode()).digest()
    start = int.from_bytes(key[:4], "big") % count if count else 0
    return [(start + i) % count for i in range(count)]


async def recovery_dialogues(
    dialogues: Iterable[Dialogue],
    environments: DialogueEnvironments,
    *,
    per_dialogue: int = 1,
    seed: int = 0,
    report: RecoveryReport | None = None,
) -> list[Dialogue]:
    """Up to `per_dialogue` recovery variants of each dialogue, tried in a seed-dependent order."""
    report = report if report is not None else RecoveryReport()
    made: list[Dialogue] = []
    for dialogue in dialogues:
        report.dialogues += 1
        candidates = _candidates(dialogue)
        kept = 0
        for index in _order(dialogue, len(candidates), seed):
            if kept >= per_dialogue:
                break
            report.tried += 1
            outcome = await variant(dialogue, *candidates[index], environments)
            if isinstance(outcome, str):
                setattr(report, outcome, getattr(report, outcome) + 1)
                continue
            kept += 1
            report.made += 1
            made.append(outcome)
    return made


def add_recovery(
    dialogues: list[Dialogue], environments: DialogueEnvironments, *, per_dialogue: int = 1, seed: int = 0
) -> tuple[list[Dialogue], RecoveryReport]:
    """`dialogues` followed by their recovery variants, and what came of the turns tried."""
    report = RecoveryReport()
    made = asyncio.run(recovery_dialogues(dialogues, environments, per_dialogue=per_dialogue, seed=seed, report=report))
    return [*dialogues, *made], report
