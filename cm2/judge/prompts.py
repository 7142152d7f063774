"""The judge's prompts (package data under `prompts/`), the answer schemas, and request building."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from string import Template
from typing import Any, Literal

from cm2.judge.config import JudgeConfig
from cm2.judge.transcript import StepContext, encode_data
from cm2.llm import ChatRequest

PromptKind = Literal["per_item", "batched"]

_ANALYSIS = {"type": "string", "description": "A short analysis of what in the transcript decides the criterion."}


@cache
def load_prompt(name: str) -> str:
    """The text of `cm2/judge/prompts/<name>.txt`."""
    return resources.files("cm2.judge").joinpath(f"prompts/{name}.txt").read_text(encoding="utf-8")


@cache
def prompt_version(kind: PromptKind) -> str:
    """A short hash of the prompt texts of `kind`: part of the verdict cache key, so editing a prompt
    invalidates the verdicts it produced."""
    text = load_prompt("system") + "\0" + load_prompt(kind)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def single_schema() -> dict[str, Any]:
    """JSON schema of a per-item answer."""
    return {
        "title": "checklist_verdict",
        "type": "object",
        "properties": {"analysis": _ANALYSIS, "satisfied": {"type": "boolean"}},
        "required": ["analysis", "satisfied"],
        "additionalProperties": False,
    }


def batched_schema(ids: list[str]) -> dict[str, Any]:
    """JSON schema of a batched answer: one entry per item id."""
    entry = {
        "type": "object",
        "properties": {"id": {"type": "string", "enum": ids}, "analysis": _ANALYSIS, "satisfied": {"type": "boolean"}},
        "required": ["id", "analysis", "satisfied"],
        "additionalProperties": False,
    }
    return {
        "title": "checklist_verdicts",
        "type": "object",
        "properties": {"verdicts": {"type": "array", "items": entry}},
        "required": ["verdicts"],
        "additionalProperties": False,
    }


def build_request(
    kind: PromptKind,
    context: StepContext,
    items: list[dict[str, Any]],
    config: JudgeConfig,
    draw: int = 0,
) -> ChatRequest:
    """The chat request asking about `items` (item records) at the step of `context`.

    `draw` numbers the answers asked for the same question (votes and retries): it offsets the seed so
    that they are independent samples.
    """
    ids = [str(item["id"]) for item in items]
    user = Template(load_prompt(kind)).substitute(
        transcript=context.transcript,
        criteria="\n".join(encode_data(item) for item in items),
        turn=context.turn,
        step=context.step,
        ids=encode_data(ids),
    )
    return ChatRequest(
        messages=[
            {"role": "system", "content": load_prompt("system").strip()},
            {"role": "user", "content": user.strip()},
        ],
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        seed=None if config.seed is None else config.seed + draw,
        json_schema=single_schema() if kind == "per_item" else batched_schema(ids),
    )
