"""Recovery examples for SFT: a reference turn where a first attempt at a call fails in the real tool
environment, and the next message makes the reference call instead and the turn goes on as the reference does.

Two kinds of attempt: `prerequisite`, a call made one step too early (before the call it needs, such as `cd`
into its folder); `wrong_value`, a call with one argument set to another value an earlier call used (one id for
another), where the right value was given earlier in the conversation. Reference dialogues hold no failed call,
so a model fine-tuned on them alone ends its turn after one: in run 13 of `results/learning/`, after 69 of 77
failed calls on held-out turns, and RL cannot reinforce a recovery its samples never try. A variant is kept only
when the attempt really fails and the turn, played on from there, leaves the environment in the reference state
(where the environment reports its state). The attempt's message is context, not a target: SFT leaves it out of
the loss (`UNTRAINED`), so the model learns the recovery, not the mistake. A variant ends with its turn.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

from cm2.rollout.episode import replay_context
from cm2.schema import Dialogue, Message, ToolCall, join_think
from cm2.schema.dialogue import AssistantStep, Turn
from cm2.tools.environment import ReportsState
from cm2.tools.environments import DialogueEnvironments
from cm2.tools.result import ToolResult, tool_error_message
from cm2.train.sft_data import UNTRAINED

VARIANT_SEPARATOR = "@recovery"


@dataclass
class RecoveryReport:
    """What came of the attempts tried."""

    dialogues: int = 0
    tried: int = 0
    attempt_worked: int = 0
    state_differs: int = 0
    prerequisite: int = 0
    wrong_value: int = 0

    @property
    def made(self) -> int:
        """Variants kept, of either kind."""
        return self.prerequisite + self.wrong_value

    def summary(self) -> dict[str, int]:
        return {**vars(self), "made": self.made}


Kind = Literal["prerequisite", "wrong_value"]
KINDS: tuple[Kind, ...] = ("prerequisite", "wrong_value")


@dataclass(frozen=True)
class Attempt:
    """A first try that should fail before the reference step `anchor`, which the recovery message then makes."""

    kind: Kind
    turn: Turn
    anchor: AssistantStep
    calls: list[ToolCall]
    why: str
    """What the recovery message says after the error: what has to change."""


def _names(calls: list[ToolCall]) -> str:
    return " and ".join(f"`{call.name}`" for call in calls)


def _error_text(result: ToolResult) -> str:
    message = tool_error_message(result.content) or result.content
    text = " ".join(message.split())[:200].rstrip(".")
    return f"{text}."


def _prerequisites(turn: Turn) -> list[Attempt]:
    """Each call step made before the call step it follows (the one it may need)."""
    steps = [step for step in turn.steps if step.calls]
    return [
        Attempt(
            "prerequisite", turn, before, after.calls, f"{_names(before.calls)} has to run before it, so I call it now."
        )
        for before, after in pairwise(steps)
    ]


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        return call.function.parsed_arguments()
    except ValueError:
        return {}


MIN_GROUNDED = 3
"""Characters a value needs before finding it in earlier text counts as it having been given there (a 1 or an
`a` is found anywhere)."""


def _plain(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _wrong_values(turn: Turn, seen_text: str, seen_values: list[Any]) -> tuple[list[Attempt], str]:
    """For each argument whose value was given earlier in the conversation (a user or tool message says it), the
    same call with another value an earlier call used, of the same type: the mix-up of one id for another that
    the held-out play of run 13 shows. Returns the attempts and the conversation's text after the turn."""
    attempts: list[Attempt] = []
    seen_text += turn.user.content or ""
    for step in turn.steps:
        for index, call in enumerate(step.calls):
            arguments = _arguments(call)
            for name, value in arguments.items():
                grounded = _plain(value) and len(str(value)) >= MIN_GROUNDED and str(value) in seen_text
                wrong = next((v for v in reversed(seen_values) if type(v) is type(value) and v != value), None)
                if not grounded or wrong is None:
                    continue
                changed = call.model_copy(
                    update={"function": call.function.model_copy(update={"arguments": {**arguments, name: wrong}})}
                )
                why = (
                    f"`{name}` should be {json.dumps(value)}, as given earlier in the conversation, not "
                    f"{json.dumps(wrong)}; I call it again with that value."
                )
                calls = [*step.calls[:index], changed, *step.calls[index + 1 :]]
                attempts.append(Attempt("wrong_value", turn, step, calls, why))
            seen_values.extend(v for v in arguments.values() if _plain(v))
        seen_text += "".join(m.content or "" for m in step.tool_messages)
    return attempts, seen_text


def attempts_of(dialogue: Dialogue) -> list[Attempt]:
    """Every attempt a dialogue offers, turn by turn."""
    attempts: list[Attempt] = []
    seen_text, seen_values = "", list[Any]()
    for turn in dialogue.turns():
        wrong, seen_text = _wrong_values(turn, seen_text, seen_values)
        attempts.extend([*_prerequisites(turn), *wrong])
    return attempts


async def variant(dialogue: Dialogue, attempt: Attempt, environments: DialogueEnvironments) -> Dialogue | str:
    """The dialogue up to the end of the attempt's turn, where the attempt is made, fails, and the reference goes
    on from its anchor step; a reason (the report's field name) when the attempt works or the turn played on
    misses the reference state."""
    turn, anchor = attempt.turn, attempt.anchor
    env = environments(dialogue)
    head = dialogue.messages[: turn.start + anchor.message_index]
    await replay_context(env, head)
    calls = [call.model_copy(update={"id": f"{call.id or call.name}-attempt"}) for call in attempt.calls]
    results = [await env.call(call) for call in calls]
    if not all(result.is_error for result in results):
        return "attempt_worked"
    tried = Message(role="assistant", content=join_think(f"Next: {_names(calls)}.", ""), tool_calls=calls)
    answers = [
        Message(role="tool", content=result.content, tool_call_id=call.id, name=call.name)
        for call, result in zip(calls, results, strict=True)
    ]
    thinking = f"{_names(calls)} failed: {_error_text(results[0])} {attempt.why}"
    retry = anchor.assistant.model_copy(update={"content": join_think(thinking, anchor.assistant.visible_text)})
    rest = turn.messages[anchor.message_index + 1 :]
    await replay_context(env, [retry, *rest])
    if isinstance(env, ReportsState):
        report = env.state_report(dialogue.first_turn + turn.index)
        if report is not None and not report.matched:
            return "state_differs"
    record = dialogue.dump()
    record.update(
        uuid=f"{dialogue.uuid}{VARIANT_SEPARATOR}{turn.index}-{anchor.index}-{attempt.kind}",
        messages=[m.dump() for m in [*head, tried, *answers, retry, *rest]],
        checklists=[],
    )
    record[UNTRAINED] = [len(head)]
    return Dialogue.model_validate(record)


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
    kinds: tuple[Kind, ...] = KINDS,
    report: RecoveryReport | None = None,
) -> list[Dialogue]:
    """Up to `per_dialogue` recovery variants of each dialogue, its attempts of `kinds` tried in a seed-dependent
    order."""
    report = report if report is not None else RecoveryReport()
    made: list[Dialogue] = []
    for dialogue in dialogues:
        report.dialogues += 1
        attempts = [a for a in attempts_of(dialogue) if a.kind in kinds]
        kept = 0
        for index in _order(dialogue, len(attempts), seed):
            if kept >= per_dialogue:
                break
            report.tried += 1
            outcome = await variant(dialogue, attempts[index], environments)
            if isinstance(outcome, str):
                setattr(report, outcome, getattr(report, outcome) + 1)
                continue
            kept += 1
            setattr(report, attempts[index].kind, getattr(report, attempts[index].kind) + 1)
            made.append(outcome)
    return made


def add_recovery(
    dialogues: list[Dialogue],
    environments: DialogueEnvironments,
    *,
    per_dialogue: int = 1,
    seed: int = 0,
    kinds: tuple[Kind, ...] = KINDS,
) -> tuple[list[Dialogue], RecoveryReport]:
    """`dialogues` followed by their recovery variants, and what came of the attempts tried."""
    report = RecoveryReport()
    made = asyncio.run(
        recovery_dialogues(dialogues, environments, per_dialogue=per_dialogue, seed=seed, kinds=kinds, report=report)
    )
    return [*dialogues, *made], report
