"""Chain-of-thought compression: the LLM shortens each assistant message's reasoning, nothing else changes.

Passages of one dialogue go to the LLM in batches (by characters). Each rewrite is checked: it must be
non-empty, no longer than `max_ratio` of the original, and leave every byte outside the reasoning as it
was (tool calls, tool results, visible replies, other messages). A rewrite that fails keeps the original
text, with the reason recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cm2.annotate.config import CompressConfig
from cm2.annotate.prompts import load_prompt, render_prompt
from cm2.annotate.render import call_json
from cm2.annotate.thinking import masked, replace_thinking
from cm2.llm.jsonx import JSONExtractionError, extract_json
from cm2.llm.protocol import ChatRequest, LLMClient, LLMError, Usage
from cm2.schema import Dialogue, Message

REWRITE_SCHEMA: dict[str, Any] = {
    "title": "shortened_reasoning",
    "type": "object",
    "properties": {
        "passages": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"index": {"type": "integer"}, "thinking": {"type": "string"}},
                "required": ["index", "thinking"],
            },
        }
    },
    "required": ["passages"],
}
_ACTION_CHARS = 300


@dataclass(frozen=True)
class Passage:
    """One assistant message's reasoning: its index in `dialogue.messages` and the text."""

    index: int
    thinking: str


@dataclass
class Outcome:
    """What happened to one passage."""

    index: int
    before: int
    after: int
    status: str  # "rewritten" or "kept: <reason>"


@dataclass
class CompressResult:
    dialogue: Dialogue
    outcomes: list[Outcome] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    error: str | None = None

    @property
    def chars_before(self) -> int:
        return sum(o.before for o in self.outcomes)

    @property
    def chars_after(self) -> int:
        return sum(o.after for o in self.outcomes)

    def stats(self) -> dict[str, Any]:
        """Per-dialogue record of the compression (kept in the output record as `cot_compression`)."""
        return {
            "chars_before": self.chars_before,
            "chars_after": self.chars_after,
            "rewritten": sum(o.status == "rewritten" for o in self.outcomes),
            "kept": [
                {"message": o.index, "reason": o.status.removeprefix("kept: ")}
                for o in self.outcomes
                if o.status != "rewritten"
            ],
            "cost_usd": round(self.usage.cost_usd, 6),
        }


def passages(dialogue: Dialogue, min_chars: int) -> list[Passage]:
    """The reasoning passages worth shortening (assistant messages with at least `min_chars` of thinking)."""
    found = []
    for index, message in enumerate(dialogue.messages):
        thinking = message.think.thinking if message.role == "assistant" else None
        if thinking and len(thinking) >= min_chars:
            found.append(Passage(index, thinking))
    return found


def batches(items: list[Passage], budget: int) -> list[list[Passage]]:
    """Consecutive passages grouped so each batch stays within `budget` characters (at least one each)."""
    groups: list[list[Passage]] = []
    size = 0
    for item in items:
        if groups and size + len(item.thinking) <= budget:
            groups[-1].append(item)
            size += len(item.thinking)
        else:
            groups.append([item])
            size = len(item.thinking)
    return groups


def _action(message: Message) -> str:
    if message.calls:
        return "then called: " + "; ".join(call_json(call) for call in message.calls)
    visible = message.visible_text
    return "then replied: " + (visible if len(visible) <= _ACTION_CHARS else visible[:_ACTION_CHARS] + " …")


def check_rewrite(message: Message, rewrite: Any, max_ratio: float) -> tuple[Message | None, str]:
    """The rewritten message, or None and why the rewrite is refused."""
    original = message.think.thinking or ""
    if not isinstance(rewrite, str):
        return None, "no rewrite returned"
    if not rewrite.strip():
        return None, "rewrite is empty"
    if len(rewrite.strip()) > max_ratio * len(original):
        return None, f"rewrite is longer ({len(rewrite.strip())} chars) than allowed ({max_ratio:g} × {len(original)})"
    try:
        return replace_thinking(message, rewrite), "rewritten"
    except ValueError as exc:
        return None, str(exc)


class CotCompressor:
    """Shortens the reasoning of every assistant message of a dialogue through any `LLMClient`."""

    def __init__(self, client: LLMClient, options: CompressConfig | None = None):
        self.client = client
        self.options = options or CompressConfig()

    def _messages(self, dialogue: Dialogue, group: list[Passage]) -> list[dict[str, Any]]:
        first_user = next((m.content or "" for m in dialogue.messages if m.role == "user"), "")
        context = f"First user message:\n{first_user}\n\nTools: {', '.join(dialogue.tool_names()) or 'none'}"
        shown = [
            {"index": p.index, "thinking": p.thinking, "action": _action(dialogue.messages[p.index])} for p in group
        ]
        user = render_prompt("compress_user", context=context, passages=json.dumps(shown, ensure_ascii=False, indent=1))
        return [
            {"role": "system", "content": load_prompt("compress_system").strip()},
            {"role": "user", "content": user},
        ]

    def _request(self, dialogue: Dialogue, group: list[Passage]) -> ChatRequest:
        s = self.options.sampling
        return ChatRequest(
            messages=self._messages(dialogue, group),
            temperature=s.temperature,
            max_tokens=s.max_tokens,
            seed=s.seed,
            reasoning_effort=s.reasoning_effort,
            json_schema=REWRITE_SCHEMA,
        )

    async def _rewrite(self, dialogue: Dialogue, group: list[Passage], result: CompressResult) -> dict[int, Any]:
        """Rewrites by message index; the cost is added to `result` even when the answer is unusable."""
        try:
            response = await self.client.chat(self._request(dialogue, group))
        except LLMError as exc:
            result.usage = result.usage + (exc.usage or Usage())
            raise
        result.usage = result.usage + response.usage
        value = response.parsed if response.parsed is not None else extract_json(response.text, "object")
        entries = value.get("passages") if isinstance(value, dict) else None
        if not isinstance(entries, list):
            raise ValueError('the answer has no "passages" list')
        wanted = {p.index for p in group}
        found: dict[int, Any] = {}
        for entry in entries:
            if isinstance(entry, dict) and entry.get("index") in wanted and entry["index"] not in found:
                found[entry["index"]] = entry.get("thinking")
        return found

    async def compress(self, dialogue: Dialogue) -> CompressResult:
        """The dialogue with shortened reasoning; `error` is set when no batch got an answer at all."""
        result = CompressResult(dialogue)
        messages = list(dialogue.messages)
        todo = passages(dialogue, self.options.min_chars)
        answered = 0
        for group in batches(todo, self.options.batch_chars):
            failure: str | None = None
            try:
                rewrites = await self._rewrite(dialogue, group, result)
                answered += 1
            except LLMError as exc:
                rewrites, failure = {}, f"request failed: {exc}"
            except (JSONExtractionError, ValueError) as exc:
                rewrites, failure = {}, f"unusable answer: {exc}"
            for passage in group:
                new: Message | None = None
                if failure is None:
                    new, status = check_rewrite(
                        messages[passage.index], rewrites.get(passage.index), self.options.max_ratio
                    )
                else:
                    status = failure
                if new is not None:
                    messages[passage.index] = new
                after = len(messages[passage.index].think.thinking or "")
                result.outcomes.append(
                    Outcome(passage.index, len(passage.thinking), after, "rewritten" if new else f"kept: {status}")
                )
        if todo and answered == 0:
            result.error = result.outcomes[0].status.removeprefix("kept: ")
        result.dialogue = dialogue.model_copy(update={"messages": messages})
        verify_only_thinking_changed(dialogue, result.dialogue)
        return result


class RewriteViolation(RuntimeError):
    """A compressed dialogue differs from its original outside the reasoning texts (a bug, never data)."""


def verify_only_thinking_changed(before: Dialogue, after: Dialogue) -> None:
    """Raise RewriteViolation unless the two dialogues are identical outside the reasoning texts."""
    if len(before.messages) != len(after.messages):
        raise RewriteViolation("message count changed")
    for index, (old, new) in enumerate(zip(before.messages, after.messages, strict=True)):
        if masked(old) != masked(new):
            raise RewriteViolation(f"message {index} changed outside its reasoning")
    if before.model_copy(update={"messages": []}).dump() != after.model_copy(update={"messages": []}).dump():
        raise RewriteViolation("the dialogue changed outside its messages")
