"""Asking the judge model about items at one step: votes, retries, and re-asking what a batch left out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from cm2.judge.config import JudgeConfig
from cm2.judge.parse import AnswerError, ItemAnswer, parse_batched, parse_single
from cm2.judge.prompts import build_request
from cm2.judge.result import ItemDecision, JudgeUsage
from cm2.judge.transcript import StepContext
from cm2.judge.votes import majority
from cm2.llm import ChatRequest, ChatResponse, LLMClient, LLMError

# One vote's outcome: the answer, or None and why not.
Vote = tuple[bool | None, str]
Answer = TypeVar("Answer")


class Asker:
    """Sends the judge's questions through `client`, at most `config.concurrency` at a time."""

    def __init__(self, client: LLMClient, config: JudgeConfig):
        self.client = client
        self.config = config
        self._limit_of: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _limit(self) -> asyncio.Semaphore:
        """The concurrency limit of the running event loop (a semaphore belongs to one loop)."""
        loop = asyncio.get_running_loop()
        if self._limit_of is None or self._limit_of[0] is not loop:
            self._limit_of = (loop, asyncio.Semaphore(self.config.concurrency))
        return self._limit_of[1]

    async def _call(self, request: ChatRequest, usage: JudgeUsage) -> ChatResponse:
        async with self._limit():
            response = await self.client.chat(request)
        usage.add_response(response)
        return response

    def _draw(self, vote: int, attempt: int) -> int:
        return vote + attempt * self.config.votes

    async def _attempt(
        self, request: ChatRequest, usage: JudgeUsage, parse: Callable[[ChatResponse], Answer]
    ) -> tuple[Answer | None, str]:
        """One call's parsed answer, or None and why there is none (the call failed or the answer is unusable)."""
        try:
            return parse(await self._call(request, usage)), ""
        except (LLMError, TimeoutError) as exc:
            return None, f"judge call failed: {exc}"
        except AnswerError as exc:
            return None, f"unusable answer: {exc}"

    async def _single_vote(self, context: StepContext, item: dict[str, Any], vote: int, usage: JudgeUsage) -> Vote:
        reason = ""
        for attempt in range(self.config.attempts):
            request = build_request("per_item", context, [item], self.config, self._draw(vote, attempt))
            answer, reason = await self._attempt(request, usage, parse_single)
            if answer is not None:
                return answer.satisfied, answer.analysis
        return None, f"{reason} (after {self.config.attempts} attempts)"

    async def _batched_vote(
        self, context: StepContext, items: list[dict[str, Any]], vote: int, usage: JudgeUsage
    ) -> dict[str, Vote]:
        pending = list(items)
        found: dict[str, ItemAnswer] = {}
        reason = ""
        for attempt in range(self.config.attempts):
            ids = [str(item["id"]) for item in pending]
            request = build_request("batched", context, pending, self.config, self._draw(vote, attempt))
            answers, failure = await self._attempt(request, usage, partial(parse_batched, ids=ids))
            if answers is None:
                reason = failure
                continue
            found.update(answers)
            pending = [item for item in pending if str(item["id"]) not in answers]
            if not pending:
                break
            reason = "left out of the batched answer"
        votes: dict[str, Vote] = {key: (answer.satisfied, answer.analysis) for key, answer in found.items()}
        for item in pending:
            votes[str(item["id"])] = (None, f"{reason} (after {self.config.attempts} attempts)")
        return votes

    def _combine(self, votes: list[Vote]) -> ItemDecision:
        values = [value for value, _ in votes]
        satisfied = majority(values, self.config.tie)
        recorded = values if self.config.votes > 1 else None
        if satisfied is None:
            errors = sorted({why for value, why in votes if value is None})
            reason = "; ".join(errors) if errors else "the votes tied and ties count as unknown"
            return ItemDecision(None, "unavailable", recorded, reason)
        analysis = next(why for value, why in votes if value is satisfied) if satisfied in values else None
        return ItemDecision(satisfied, "llm", recorded, analysis)

    async def ask_single(self, context: StepContext, item: dict[str, Any], usage: JudgeUsage) -> ItemDecision:
        """One item at one step, `votes` times (one call each, retried up to `attempts` times)."""
        votes = await asyncio.gather(*(self._single_vote(context, item, v, usage) for v in range(self.config.votes)))
        return self._combine(list(votes))

    async def ask_batch(
        self, context: StepContext, items: list[dict[str, Any]], usage: JudgeUsage
    ) -> dict[str, ItemDecision]:
        """Several items at one step in one call per vote; ids an answer leaves out are asked again (just those)."""
        runs = await asyncio.gather(*(self._batched_vote(context, items, v, usage) for v in range(self.config.votes)))
        return {str(item["id"]): self._combine([run[str(item["id"])] for run in runs]) for item in items}
