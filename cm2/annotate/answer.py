"""The JSON answer the annotator writes, and its conversion into per-turn checklists.

Parsing collects every problem it finds (with turn, item and field) instead of stopping at the first,
so one repair round can fix them all.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cm2.annotate.evidence import SOURCE_ROLES
from cm2.schema import FOCUS_VALUES, ChecklistItem, TurnChecklist

_CONSTRAINT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": ["exact", "one_of", "numeric", "substring"]},
        "value": {},
        "values": {"type": "array"},
        "tolerance": {"type": "number", "minimum": 0},
    },
    "required": ["kind"],
}
_ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "evidence": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "turn": {"type": "integer", "minimum": 0},
                    "step": {"type": "integer", "minimum": 0},
                    "from": {"type": "string", "enum": list(SOURCE_ROLES)},
                    "snippet": {"type": "string"},
                },
                "required": ["turn", "step", "from", "snippet"],
            },
        },
        "focus_on": {"type": "string", "enum": list(FOCUS_VALUES)},
        "question": {"type": "string"},
        "pass_condition": {"type": "string"},
        "failure_examples": {"type": "array", "items": {"type": "string"}},
        "required_for_next_turn": {"type": "boolean"},
        "dependence": {"type": "array", "items": {"type": "string"}},
        "weight": {"type": "number", "minimum": 0},
        "check": {
            "type": "object",
            "properties": {
                "tool": {"type": "string"},
                "arguments": {"type": "object", "additionalProperties": _CONSTRAINT},
            },
            "required": ["tool", "arguments"],
        },
    },
    "required": [
        "id",
        "evidence",
        "focus_on",
        "question",
        "pass_condition",
        "failure_examples",
        "required_for_next_turn",
        "dependence",
        "weight",
    ],
}

#: The schema sent with every labeling request (`ChatRequest.json_schema`).
CHECKLIST_SCHEMA: dict[str, Any] = {
    "title": "turn_checklists",
    "type": "object",
    "properties": {
        "turns": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"turn": {"type": "integer", "minimum": 0}, "items": {"type": "array", "items": _ITEM}},
                "required": ["turn", "items"],
            },
        }
    },
    "required": ["turns"],
}

_ITEM_KEYS = frozenset(_ITEM["properties"])


def _where(turn: int, position: int, item: Any) -> str:
    name = item.get("id") if isinstance(item, dict) else None
    return f"turn {turn}, item #{position}" + (f" ({name})" if isinstance(name, str) and name else "")


def _item_errors(turn: int, position: int, item: Any, exc: ValidationError) -> list[str]:
    out = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"]) or "(item)"
        out.append(f"{_where(turn, position, item)}, field {loc}: {error['msg']}")
    return out


def parse_checklist(value: Any, num_turns: int) -> tuple[list[TurnChecklist], list[str]]:
    """Turn the annotator's JSON into one `TurnChecklist` per turn; returns (checklist, problems).

    Accepts `{"turns": [{"turn": t, "items": [...]}, ...]}` (the requested shape) or a bare list of turns.
    Unknown item keys are dropped, so the output carries only checklist fields.
    """
    turns_value = value.get("turns") if isinstance(value, dict) else value
    if not isinstance(turns_value, list):
        return [], ['the answer must be a JSON object {"turns": [...]} with one entry per turn']
    problems: list[str] = []
    if len(turns_value) != num_turns:
        problems.append(f"the answer has {len(turns_value)} turn entries but the dialogue has {num_turns} turns")
    checklist: list[TurnChecklist] = []
    for position, entry in enumerate(turns_value):
        items_value = entry.get("items") if isinstance(entry, dict) else entry
        if isinstance(entry, dict) and entry.get("turn", position) != position:
            problems.append(f"turn entry #{position} says turn {entry.get('turn')!r}; list the turns in order from 0")
        if not isinstance(items_value, list):
            problems.append(f"turn {position}: `items` must be a list of checklist items")
            checklist.append(TurnChecklist())
            continue
        items: list[ChecklistItem] = []
        for n, raw in enumerate(items_value):
            if not isinstance(raw, dict):
                problems.append(f"{_where(position, n, raw)}: an item must be a JSON object")
                continue
            try:
                items.append(ChecklistItem.model_validate({k: v for k, v in raw.items() if k in _ITEM_KEYS}))
            except ValidationError as exc:
                problems.extend(_item_errors(position, n, raw, exc))
        checklist.append(TurnChecklist(items=items))
    return checklist, problems
