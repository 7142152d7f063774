"""Progressive LLM filtering: reviews at rising reasoning effort; the first rejection drops a dialogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cm2.annotate.config import LLMFilterConfig
from cm2.annotate.prompts import load_prompt, render_prompt
from cm2.annotate.render import render_dialogue
from cm2.llm.jsonx import JSONExtractionError, extract_json
from cm2.llm.protocol import ChatRequest, LLMClient, LLMError, ReasoningEffort, Usage
from cm2.schema import Dialogue

VERDICT_SCHEMA: dict[str, Any] = {
    "title": "review_verdict",
    "type": "object",
    "properties": {"keep": {"type": "boolean"}, "reasons": {"type": "array", "items": {"type": "string"}}},
    "required": ["keep", "reasons"],
}


@dataclass
class StageResult:
    """One review: its stage, effort, verdict (None when no usable verdict came back) and cost."""

    stage: int
    effort: ReasoningEffort
    keep: bool | None
    reasons: list[str]
    usage: Usage
    unavailable: bool = False
    """The request failed for good (endpoint down, refused, timing out): no verdict, and not the model's fault."""


@dataclass
class FilterResult:
    """The reviews a dialogue went through, up to the first that did not keep it."""

    dialogue: Dialogue
    stages: list[StageResult] = field(default_factory=list)

    @property
    def kept(self) -> bool:
        return all(stage.keep for stage in self.stages)

    @property
    def unfinished(self) -> bool:
        """The review stopped because the endpoint gave no answer: to be tried again, not rejected."""
        return bool(self.stages) and self.stages[-1].unavailable

    @property
    def usage(self) -> Usage:
        return sum((stage.usage for stage in self.stages), Usage())

    def rejection_record(self) -> dict[str, Any]:
        """What the rejected file keeps: the id, the deciding stage and effort, and the reasons."""
        last = self.stages[-1]
        return {
            "uuid": self.dialogue.uuid,
            "stage": last.stage,
            "effort": last.effort,
            "error": last.keep is None,
            "reasons": last.reasons,
            "cost_usd": round(self.usage.cost_usd, 6),
        }


def parse_verdict(value: Any) -> tuple[bool, list[str]]:
    """`(keep, reasons)` from the reviewer's JSON; raises ValueError on any other shape."""
    if not isinstance(value, dict) or not isinstance(value.get("keep"), bool):
        raise ValueError('expected {"keep": true|false, "reasons": [...]}')
    reasons = value.get("reasons", [])
    if isinstance(reasons, str):
        reasons = [reasons]
    if not isinstance(reasons, list):
        raise ValueError("`reasons` must be a list of strings")
    return value["keep"], [str(reason) for reason in reasons]


class DialogueFilter:
    """Reviews a dialogue once per stage of `options.stages`, stopping at the first stage that flags it.

    A stage that returns no usable verdict counts as flagging it (recorded with `error: true`): a
    dialogue is kept only when every stage said keep. A stage whose request failed for good leaves the
    dialogue unfinished instead (see `FilterResult.unfinished`).
    """

    def __init__(self, client: LLMClient, options: LLMFilterConfig | None = None):
        self.client = client
        self.options = options or LLMFilterConfig()

    def messages(self, dialogue: Dialogue) -> list[dict[str, Any]]:
        user = render_prompt("filter_user", dialogue=render_dialogue(dialogue))
        return [{"role": "system", "content": load_prompt("filter_system").strip()}, {"role": "user", "content": user}]

    async def review(self, dialogue: Dialogue, stage: int, effort: ReasoningEffort) -> StageResult:
        s = self.options.sampling
        request = ChatRequest(
            messages=self.messages(dialogue),
            temperature=s.temperature,
            max_tokens=s.max_tokens,
            seed=s.seed + stage,
            reasoning_effort=effort,
            json_schema=VERDICT_SCHEMA,
        )
        try:
            response = await self.client.chat(request)
        except LLMError as exc:
            return StageResult(stage, effort, None, [f"request failed: {exc}"], exc.usage or Usage(), unavailable=True)
        try:
            value = response.parsed if response.parsed is not None else extract_json(response.text, "object")
            keep, reasons = parse_verdict(value)
        except (JSONExtractionError, ValueError) as exc:
            return StageResult(stage, effort, None, [f"unusable verdict: {exc}"], response.usage)
        return StageResult(stage, effort, keep, reasons, response.usage)

    async def run(self, dialogue: Dialogue) -> FilterResult:
        result = FilterResult(dialogue)
        for stage, effort in enumerate(self.options.stages):
            outcome = await self.review(dialogue, stage, effort)
            result.stages.append(outcome)
            if not outcome.keep:
                break
        return result
