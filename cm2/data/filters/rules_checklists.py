"""The rule on the checklists a record carries (records without checklists pass)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cm2.data.errors import RecordError
from cm2.data.filters.prepare import Prepared
from cm2.data.filters.types import Rule, Violation

if TYPE_CHECKING:
    from cm2.data.filters.config import FilterConfig


def check_checklists(rec: Prepared, config: FilterConfig) -> list[Violation]:
    """Checklists, when present, load and are sound: weights non-negative and summing to 1 per turn, known
    and acyclic dependencies, evidence inside the dialogue, no more turns than the dialogue has."""
    from cm2.data.adapters import checked_dialogue, to_dialogue

    data = rec.raw
    if not isinstance(data, dict) or not data.get("checklists"):
        return []
    try:
        checked_dialogue(to_dialogue(data), None)
    except RecordError as exc:
        return [Violation("checklists", exc.message)]
    return []


CHECKLISTS = Rule("checklists", "checklists, when present, are sound (weights, dependencies)", check_checklists)
