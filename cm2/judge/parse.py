"""Reading the judge model's answers (structured JSON, or JSON found in free text)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from cm2.llm import ChatResponse
from cm2.llm.jsonx import JSONExtractionError, extract_json


class AnswerError(ValueError):
    """The answer could not be read as the expected JSON."""


class ItemAnswer(BaseModel):
    """One item's answer: a short analysis and the boolean."""

    model_config = ConfigDict(extra="ignore")

    analysis: str = ""
    satisfied: bool


class BatchedEntry(ItemAnswer):
    id: str


def _value(response: ChatResponse) -> Any:
    if response.parsed is not None:
        return response.parsed
    try:
        return extract_json(response.text, "object")
    except JSONExtractionError as exc:
        raise AnswerError(str(exc)) from exc


def _short(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(root)"
    return f"{where}: {first['msg']}"


def parse_single(response: ChatResponse) -> ItemAnswer:
    """The answer of a per-item call; raises AnswerError when it has no usable `satisfied`."""
    value = _value(response)
    try:
        return ItemAnswer.model_validate(value)
    except ValidationError as exc:
        raise AnswerError(f"unusable answer ({_short(exc)})") from exc


def parse_batched(response: ChatResponse, ids: list[str]) -> dict[str, ItemAnswer]:
    """The usable entries of a batched answer, by item id (entries for other ids and repeats are ignored).

    Raises AnswerError when the answer has no `verdicts` list at all; ids it leaves out are simply
    absent from the result (the caller asks again for those).
    """
    value = _value(response)
    entries = value.get("verdicts") if isinstance(value, dict) else None
    if not isinstance(entries, list):
        raise AnswerError("the answer has no `verdicts` list")
    wanted = set(ids)
    found: dict[str, ItemAnswer] = {}
    for entry in entries:
        try:
            parsed = BatchedEntry.model_validate(entry)
        except ValidationError:
            continue
        if parsed.id in wanted and parsed.id not in found:
            found[parsed.id] = ItemAnswer(analysis=parsed.analysis, satisfied=parsed.satisfied)
    return found
