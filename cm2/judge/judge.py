"""The checklist judge: which items to decide at which step, and how.

At every assistant step of a turn, each item of that turn's checklist gets a verdict:
- already satisfied earlier in the turn: carried (`source="carried"`, not asked again; the `released`
  mode asks every item at every step instead);
- focused on tool calls or tool content at a step whose tool call failed: false (`"tool_error"`);
- with a `check`: decided in code from the step's tool calls, or from how the turn ends (a visible reply, the
  number of call attempts, the state the environment reported; `"check"`, or `"unavailable"` when the
  environment reported no state);
- focused on something the turn has not shown yet (no tool call, tool result, visible reply or
  reasoning so far): false without asking (`"check"`, unless `skip_absent_focus` is off);
- otherwise asked of the judge model (`"llm"`), per item or batched per step; when no answer can be
  had, `satisfied=None` with `source="unavailable"` and the reason.
Items whose dependencies are not met yet are decided like the others: gating is the reward's business.
Verdict `step` numbers are assistant-step indices inside the turn, from 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from cm2.judge.asker import Asker
from cm2.judge.cache import CachedVerdict, VerdictCache, cache_key
from cm2.judge.checks import explain
from cm2.judge.config import JudgeConfig
from cm2.judge.prompts import PromptKind, prompt_version
from cm2.judge.result import ItemDecision, JudgeUsage, TrajectoryJudgement
from cm2.judge.step import StepToJudge
from cm2.judge.tool_errors import failed_tool_messages
from cm2.judge.transcript import StepContext, item_record, render_context, trajectory_turns
from cm2.judge.turn_checks import decide_turn_check
from cm2.llm import LLMClient
from cm2.schema import (
    TOOL_FOCUS,
    AssistantStep,
    ChecklistItem,
    Dialogue,
    Message,
    Trajectory,
    Turn,
    TurnCheck,
    Verdict,
    split_turns,
)

ABSENT: dict[str, str] = {
    "assistant.tool_calls": "no tool call in this turn so far",
    "tool.content": "no tool result in this turn so far",
    "assistant.content.user_visible_reply": "no user-visible reply in this turn so far",
    "assistant.content.thinking": "no reasoning in this turn so far",
}


def focus_present(step: AssistantStep) -> set[str]:
    """The parts of a step that checklist items can focus on and that this step shows."""
    split = step.assistant.think
    present = {
        "assistant.tool_calls": bool(step.calls),
        "tool.content": bool(step.tool_messages),
        "assistant.content.user_visible_reply": bool(split.visible),
        "assistant.content.thinking": bool(split.thinking),
    }
    return {focus for focus, shown in present.items() if shown}


def to_verdict(item: str, turn: int, step: int, decision: ItemDecision) -> Verdict:
    return Verdict(
        item=item,
        turn=turn,
        step=step,
        satisfied=decision.satisfied,
        source=decision.source,
        votes=decision.votes,
        reason=decision.reason,
    )


class JudgeInputError(ValueError):
    """A trajectory cannot be judged against the dialogue given (wrong dialogue, missing checklist)."""


class ChecklistJudge:
    """Judges trajectories against their reference dialogue's checklist with an LLM client."""

    def __init__(self, client: LLMClient, config: JudgeConfig | None = None, cache: VerdictCache | None = None):
        self.config = config or JudgeConfig()
        self.cache = cache if cache is not None else VerdictCache(self.config.cache_size, self.config.cache_path)
        self._asker = Asker(client, self.config)
        self._inflight: dict[str, asyncio.Future[ItemDecision]] = {}
        self.kind: PromptKind = "batched" if self.config.mode == "batched" else "per_item"
        self.step_usage = JudgeUsage()
        """Calls, tokens and cost of every `judge_step` so far."""
        self._fingerprint: dict[str, Any] = {
            "model": self.config.cache_model,
            "prompt": self.kind,
            "version": prompt_version(self.kind),
            "votes": self.config.votes,
            "tie": self.config.tie,
            "temperature": self.config.temperature,
            "seed": self.config.seed,
            "max_tokens": self.config.max_tokens,
        }

    def close(self) -> None:
        """Close the verdict cache's file (if any)."""
        self.cache.close()

    async def judge(self, trajectory: Trajectory, dialogue: Dialogue) -> TrajectoryJudgement:
        """Every verdict of `trajectory` against checklist `trajectory.checklist` of `dialogue`."""
        if trajectory.dialogue_uuid != dialogue.uuid:
            raise JudgeInputError(
                f"trajectory of dialogue {trajectory.dialogue_uuid} (rollout {trajectory.rollout}) "
                f"was given dialogue {dialogue.uuid}"
            )
        k = trajectory.checklist
        if not 0 <= k < len(dialogue.checklists):
            raise JudgeInputError(
                f"dialogue {dialogue.uuid}, rollout {trajectory.rollout}: checklist {k} does not exist "
                f"(the dialogue has {len(dialogue.checklists)})"
            )
        usage = JudgeUsage()
        turns = trajectory_turns(trajectory)
        first = trajectory.messages[0] if trajectory.messages else None
        system = first if self.config.include_system and first is not None and first.role == "system" else None
        checklist = dialogue.checklists[k]
        jobs = [
            self._judge_turn(turns, t, checklist[t].items, system, usage)
            for t in range(min(len(turns), len(checklist)))
            if checklist[t].items
        ]
        per_turn = await asyncio.gather(*jobs)
        return TrajectoryJudgement(
            dialogue_uuid=trajectory.dialogue_uuid,
            rollout=trajectory.rollout,
            group=trajectory.group,
            checklist=k,
            mode=self.config.mode,
            verdicts=[verdict for verdicts in per_turn for verdict in verdicts],
            usage=usage,
        )

    async def judge_step(self, asked: StepToJudge, usage: JudgeUsage | None = None) -> list[Verdict]:
        """Verdicts on the turn's open items right after one step of a rollout in progress.

        This is how the episode runner judges each step as it completes (and stops early on a required item).
        Calls and tokens are added to `usage` (one per episode) and to `step_usage` (the judge's total).
        """
        history, step, items = asked.history, asked.step, asked.items
        turns = split_turns(history)
        if step.turn >= len(turns) or step.index >= len(turns[step.turn].steps):
            raise JudgeInputError(
                f"dialogue {asked.dialogue.uuid}: no step {step.index} of turn {step.turn} in the history"
            )
        current = turns[step.turn].steps[step.index] = replace(turns[step.turn].steps[step.index], state=step.state)
        shown: set[str] = set()
        for earlier in turns[step.turn].steps[: step.index + 1]:
            shown |= focus_present(earlier)
        first = history[0] if history else None
        system = first if self.config.include_system and first is not None and first.role == "system" else None
        spent = JudgeUsage()
        decisions = await self._decide_step(turns, current, items, set(), shown, system, spent)
        for total in (self.step_usage, usage):
            if total is not None:
                total.absorb(spent)
        return [to_verdict(item.id, step.turn, step.index, decisions[item.id]) for item in items]

    async def judge_many(
        self,
        pairs: Iterable[tuple[Trajectory, Dialogue]],
        on_done: Callable[[TrajectoryJudgement], None] | None = None,
    ) -> list[TrajectoryJudgement]:
        """Judge several trajectories concurrently; results come back in input order."""

        async def one(trajectory: Trajectory, dialogue: Dialogue) -> TrajectoryJudgement:
            result = await self.judge(trajectory, dialogue)
            if on_done is not None:
                on_done(result)
            return result

        return list(await asyncio.gather(*(one(t, d) for t, d in pairs)))

    async def _judge_turn(
        self, turns: list[Turn], t: int, items: list[ChecklistItem], system: Message | None, usage: JudgeUsage
    ) -> list[Verdict]:
        satisfied: set[str] = set()
        shown: set[str] = set()
        verdicts: list[Verdict] = []
        for step in turns[t].steps:
            shown |= focus_present(step)
            decisions = await self._decide_step(turns, step, items, satisfied, shown, system, usage)
            for item in items:
                decision = decisions[item.id]
                verdicts.append(to_verdict(item.id, t, step.index, decision))
                if decision.satisfied:
                    satisfied.add(item.id)
        return verdicts

    async def _decide_step(
        self,
        turns: list[Turn],
        step: AssistantStep,
        items: list[ChecklistItem],
        satisfied: set[str],
        shown: set[str],
        system: Message | None,
        usage: JudgeUsage,
    ) -> dict[str, ItemDecision]:
        decisions: dict[str, ItemDecision] = {}
        failed = failed_tool_messages(step) if self.config.tool_error_false else []
        released = self.config.mode == "released"
        asked: list[ChecklistItem] = []
        for item in items:
            if item.id in satisfied and not released:
                decisions[item.id] = ItemDecision(True, "carried")
            elif failed and item.focus_on in TOOL_FOCUS:
                names = ", ".join(sorted({m.name or "?" for m in failed}))
                decisions[item.id] = ItemDecision(
                    False, "tool_error", reason=f"a tool call failed at this step ({names})"
                )
            elif isinstance(item.check, TurnCheck):
                verdict, why = decide_turn_check(item.check, turns[step.turn], step)
                decisions[item.id] = ItemDecision(
                    verdict, "check" if verdict is not None else "unavailable", reason=why
                )
            elif item.check is not None:
                ok, why = explain(item.check, step.calls)
                decisions[item.id] = ItemDecision(ok, "check", reason=why)
            elif item.focus_on not in shown and self.config.skip_absent_focus and not released:
                decisions[item.id] = ItemDecision(False, "check", reason=ABSENT[item.focus_on])
            else:
                asked.append(item)
                continue
            usage.count(decisions[item.id], cached=False)
        if asked:
            context = render_context(turns, step.turn, step.index, system)
            decisions.update(await self._ask(context, asked, usage))
        return decisions

    async def _ask(
        self, context: StepContext, items: list[ChecklistItem], usage: JudgeUsage
    ) -> dict[str, ItemDecision]:
        """Model verdicts for `items`, from the cache, from an identical question in flight, or asked now."""
        records = {item.id: item_record(item, self.config.include_evidence) for item in items}
        keys = {
            item_id: cache_key(self._fingerprint, record, context.transcript) for item_id, record in records.items()
        }
        decisions: dict[str, ItemDecision] = {}
        waiting: dict[str, asyncio.Future[ItemDecision]] = {}
        mine: dict[str, asyncio.Future[ItemDecision]] = {}
        loop = asyncio.get_running_loop()
        for item_id, key in keys.items():
            cached = self.cache.get(key)
            if cached is not None:
                decisions[item_id] = ItemDecision(cached.satisfied, "llm", cached.votes, cached.reason)
                usage.count(decisions[item_id], cached=True)
            elif key in self._inflight:
                waiting[item_id] = self._inflight[key]
            else:
                mine[item_id] = self._inflight[key] = loop.create_future()
        try:
            fresh = await self._ask_model(context, [records[i] for i in mine], usage) if mine else {}
        except BaseException as exc:
            for future in mine.values():
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                    future.exception()  # retrieved here, so a future nobody awaits logs nothing
                else:
                    future.cancel()
            raise
        finally:
            for item_id in mine:
                self._inflight.pop(keys[item_id], None)
        for item_id, future in mine.items():
            decision = fresh[item_id]
            future.set_result(decision)
            if decision.satisfied is not None:
                self.cache.put(
                    keys[item_id],
                    CachedVerdict(satisfied=decision.satisfied, votes=decision.votes, reason=decision.reason),
                )
            decisions[item_id] = decision
            usage.count(decision, cached=False)
        for item_id, future in waiting.items():
            decisions[item_id] = await future
            usage.count(decisions[item_id], cached=True)
        return decisions

    async def _ask_model(
        self, context: StepContext, records: list[dict[str, Any]], usage: JudgeUsage
    ) -> dict[str, ItemDecision]:
        if self.kind == "batched":
            return await self._asker.ask_batch(context, records, usage)
        answers = await asyncio.gather(*(self._asker.ask_single(context, record, usage) for record in records))
        return {str(record["id"]): answer for record, answer in zip(records, answers, strict=True)}
