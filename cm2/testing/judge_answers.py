"""Scripted answers of a judge model: read the prompt cm2's judge wrote, answer in its JSON shape."""

from __future__ import annotations

import json
from typing import Any


def judge_prompt(prompt: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The (transcript records, criteria records) of a judge prompt: one JSON object a line in its
    <transcript> and <criteria> blocks."""

    def block(tag: str) -> list[dict[str, Any]]:
        inside = prompt.split(f"<{tag}>\n")[1].split(f"\n</{tag}>")[0]
        return [json.loads(line) for line in inside.splitlines()]

    return block("transcript"), block("criteria")


def reply_judge(body: dict[str, Any]) -> str:
    """A judge server's answer (for `FakeOpenAIServer`): an item holds when the step under review says
    something to the user."""
    transcript, criteria = judge_prompt(body["messages"][-1]["content"])
    last = [record for record in transcript if record["role"] == "assistant"][-1]
    answers = [{"id": c["id"], "analysis": "read it", "satisfied": bool(last.get("reply"))} for c in criteria]
    return json.dumps({"verdicts": answers})
