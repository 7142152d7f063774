"""Checklist labeling with an annotator LLM: prompt, validate, send the problems back, repeat.

Each of the K checklists of a dialogue is an independent conversation with the annotator (its own
seed). A conversation ends when an answer passes every check, or fails for good after
`max_repair_rounds` follow-ups. The dialogue is labeled when enough of its K conversations succeed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from cm2.annotate.answer import CHECKLIST_SCHEMA, parse_checklist
from cm2.annotate.config import LabelConfig
from cm2.annotate.prompts import load_prompt, render_prompt
from cm2.annotate.render import render_dialogue
from cm2.annotate.turn_items import with_turn_items
from cm2.annotate.validate import checklist_problems
from cm2.llm.jsonx import JSONExtractionError, extract_json
from cm2.llm.protocol import ChatRequest, ChatResponse, LLMClient, LLMError, Usage
from cm2.schema import Dialogue, TurnChecklist


@dataclass
class SampleResult:
    """One annotator conversation: the accepted checklist, or why there is none."""

    checklist: list[TurnChecklist] | None
    usage: Usage
    rounds: int
    problems: list[str] = field(default_factory=list)
    last_answer: str | None = None
    unavailable: bool = False
    """The conversation ended on a request that failed for good (endpoint down, refused, timing out)."""


@dataclass
class LabelResult:
    """All K conversations of one dialogue."""

    dialogue: Dialogue
    samples: list[SampleResult]
    needed: int

    @property
    def ok(self) -> bool:
        return sum(s.checklist is not None for s in self.samples) >= self.needed

    @property
    def unfinished(self) -> bool:
        """Not labeled, and the endpoint is to blame: a rerun should try again, not record a failure."""
        return not self.ok and any(s.unavailable for s in self.samples)

    @property
    def usage(self) -> Usage:
        return sum((sample.usage for sample in self.samples), Usage())

    def labeled_record(self) -> dict[str, Any]:
        """The input record plus `checklists` (released format); each item's `extra_info.price_usd` is the
        cost of the conversation that wrote its checklist."""
        checklists = []
        for sample in self.samples:
            if sample.checklist is None:
                continue
            price = round(sample.usage.cost_usd, 6)
            for turn in sample.checklist:
                for item in turn.items:
                    item.extra_info = {**(item.extra_info or {}), "price_usd": price}
            checklists.append(sample.checklist)
        return self.dialogue.model_copy(update={"checklists": checklists}).dump()

    def failure_record(self) -> dict[str, Any]:
        """What the failures file keeps: the id, why, and the last raw answer of each failed sample."""
        failed = [(k, s) for k, s in enumerate(self.samples) if s.checklist is None]
        reason = f"{len(failed)} of {len(self.samples)} checklist(s) failed; {self.needed} needed"
        return {
            "uuid": self.dialogue.uuid,
            "reason": reason,
            "samples": [
                {"sample": k, "rounds": s.rounds, "problems": s.problems, "last_answer": s.last_answer}
                for k, s in failed
            ],
            "cost_usd": round(self.usage.cost_usd, 6),
        }


def _answer_value(response: ChatResponse) -> Any:
    if response.parsed is not None:
        return response.parsed
    return extract_json(response.text, "object")


class ChecklistLabeler:
    """Labels dialogues with K validated checklists each, through any `LLMClient`."""

    def __init__(self, client: LLMClient, options: LabelConfig | None = None):
        self.client = client
        self.options = options or LabelConfig()

    def first_messages(self, dialogue: Dialogue) -> list[dict[str, Any]]:
        """The system and user messages that open every conversation about `dialogue`."""
        num_turns = len(dialogue.turns())
        user = render_prompt(
            "label_user", num_turns=num_turns, last_turn=num_turns - 1, dialogue=render_dialogue(dialogue)
        )
        return [{"role": "system", "content": load_prompt("label_system").strip()}, {"role": "user", "content": user}]

    def _request(self, messages: list[dict[str, Any]], sample: int) -> ChatRequest:
        s = self.options.sampling
        return ChatRequest(
            messages=messages,
            temperature=s.temperature,
            max_tokens=s.max_tokens,
            reasoning_effort=s.reasoning_effort,
            seed=s.seed + sample,
            json_schema=CHECKLIST_SCHEMA,
        )

    async def sample(self, dialogue: Dialogue, sample: int) -> SampleResult:
        """One conversation: ask, validate, send problems back, up to `max_repair_rounds` times."""
        num_turns = len(dialogue.turns())
        messages = self.first_messages(dialogue)
        usage = Usage()
        problems: list[str] = []
        last_answer: str | None = None
        rounds = self.options.max_repair_rounds + 1
        failed_last = False
        for attempt in range(1, rounds + 1):
            try:
                response = await self.client.chat(self._request(messages, sample))
            except LLMError as exc:
                usage = usage + (exc.usage or Usage())
                problems = [f"request failed: {exc}"]
                failed_last = True
                continue  # nothing to show the model; ask the same again
            failed_last = False
            usage = usage + response.usage
            last_answer = response.text
            try:
                checklist, problems = parse_checklist(_answer_value(response), num_turns)
            except JSONExtractionError as exc:
                checklist, problems = [], [f"the answer is not JSON: {exc}"]
            if not problems:
                problems = checklist_problems(dialogue, checklist, self.options.validation)
            if not problems:
                checklist = with_turn_items(dialogue, checklist, self.options.turn_checks)
                return SampleResult(checklist, usage, attempt, [], last_answer)
            repair = render_prompt("label_repair", errors="\n".join(f"- {p}" for p in problems), num_turns=num_turns)
            messages = [*messages, {"role": "assistant", "content": response.text}, {"role": "user", "content": repair}]
        return SampleResult(None, usage, rounds, problems, last_answer, unavailable=failed_last)

    async def label(self, dialogue: Dialogue) -> LabelResult:
        """Run the K conversations of `dialogue` concurrently."""
        if not dialogue.turns():
            failed = SampleResult(None, Usage(), 0, ["the dialogue has no user turn to label"])
            return LabelResult(dialogue, [failed], self.options.needed)
        samples = await asyncio.gather(*(self.sample(dialogue, k) for k in range(self.options.num_checklists)))
        return LabelResult(dialogue, list(samples), self.options.needed)
