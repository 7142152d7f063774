"""Checklist items: binary, evidence-grounded criteria for one turn of a reference dialogue."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import AliasChoices, Field, model_validator

from cm2.schema.messages import _Record

FocusOn = Literal[
    "assistant.tool_calls",
    "assistant.content.thinking",
    "assistant.content.user_visible_reply",
    "tool.content",
]
FOCUS_VALUES: tuple[str, ...] = get_args(FocusOn)
TOOL_FOCUS: frozenset[str] = frozenset({"assistant.tool_calls", "tool.content"})


class Evidence(_Record):
    """Where in the reference dialogue an item is grounded.

    `step` counts every message of the turn, the user message being step 0 (as in the released data).
    """

    turn: int = Field(ge=0)
    step: int = Field(ge=0)
    source: str = Field(default="", validation_alias=AliasChoices("from", "source"), serialization_alias="from")
    snippet: str = ""


class ArgConstraint(_Record):
    """A machine-checkable constraint on one argument of a tool call."""

    kind: Literal["exact", "one_of", "numeric", "substring"] = "exact"
    value: Any = None
    values: list[Any] | None = None
    tolerance: float = 0.0

    @model_validator(mode="after")
    def _check_shape(self) -> ArgConstraint:
        if self.kind == "one_of" and not self.values:
            raise ValueError("a one_of constraint needs a non-empty `values` list")
        if self.kind == "numeric" and not isinstance(self.value, int | float):
            raise ValueError("a numeric constraint needs a number in `value`")
        if self.kind == "substring" and not isinstance(self.value, str):
            raise ValueError("a substring constraint needs a string in `value`")
        return self


class ToolCallCheck(_Record):
    """An item decidable in code: some tool call of the step names `tool` and meets every constraint."""

    tool: str
    arguments: dict[str, ArgConstraint] = Field(default_factory=dict)
    allow_extra_arguments: bool = True


TurnCheckKind = Literal["ends_with_reply", "call_budget", "environment_state", "reference_calls_only"]


class TurnCheck(_Record):
    """An item decided in code from how the turn ends. Each kind holds only at a step that ends the turn with
    a visible reply (no tool call, no error answer); besides that:

    - `ends_with_reply`: nothing more (the turn was not cut at the step limit);
    - `call_budget`: the turn so far made at most `max_calls` tool-call attempts (calls, and outputs whose
      calls did not parse);
    - `environment_state`: the tool environment reported that its state matches the reference state after
      this turn (an environment that reports nothing leaves the verdict unavailable);
    - `reference_calls_only`: every tool-call attempt of the turn so far meets one of `calls` (the reference's
      calls of the turn); a call the reference did not make, or one that did not parse, fails it.
    """

    kind: TurnCheckKind
    max_calls: int | None = Field(default=None, ge=0)
    calls: list[ToolCallCheck] | None = None

    @model_validator(mode="after")
    def _sized_kinds(self) -> TurnCheck:
        if (self.kind == "call_budget") != (self.max_calls is not None):
            raise ValueError("max_calls is set exactly when kind is 'call_budget'")
        if (self.kind == "reference_calls_only") != (self.calls is not None):
            raise ValueError("calls is set exactly when kind is 'reference_calls_only'")
        return self


class ChecklistItem(_Record):
    """One yes/no criterion of a turn.

    Loads the released names (`dependence`, `required_for_next_turn`) and the paper's
    (`dependency`, `strictness`); dumps the released names.
    """

    id: str
    evidence: list[Evidence] = Field(default_factory=list)
    focus_on: FocusOn
    question: str
    pass_condition: str = ""
    failure_examples: list[str] = Field(default_factory=list)
    required_for_next_turn: bool = Field(
        default=False, validation_alias=AliasChoices("required_for_next_turn", "strictness")
    )
    dependence: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("dependence", "dependency", "dependencies"),
    )
    weight: float = Field(default=0.0, ge=0.0)
    check: ToolCallCheck | TurnCheck | None = None
    extra_info: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _dependency_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("dependence", "dependency", "dependencies"):
                if isinstance(data.get(key), str):
                    data = {**data, key: [data[key]] if data[key] else []}
        return data


_MAP_KEYS = {
    "dependence": "dependence",
    "dependency": "dependence",
    "dependencies": "dependence",
    "weight": "weight",
    "weights": "weight",
    "required_for_next_turn": "required_for_next_turn",
    "strictness": "required_for_next_turn",
}


class TurnChecklist(_Record):
    """The items of one turn. Loads a plain list of items or the per-turn map form
    `{"items": [...], "dependence": {"C2": ["C1"]}, "weight": {"C1": 0.4, ...}}`."""

    items: list[ChecklistItem] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_list_or_maps(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"items": data}
        if not isinstance(data, dict):
            return data
        items_key = next((k for k in ("items", "checklist", "criteria") if k in data), None)
        if items_key is None:
            return data
        items = [dict(item) if isinstance(item, dict) else item for item in data[items_key]]
        by_id = {item.get("id"): item for item in items if isinstance(item, dict)}
        for key, field in _MAP_KEYS.items():
            mapping = data.get(key)
            if not isinstance(mapping, dict):
                continue
            for item_id, value in mapping.items():
                if item_id not in by_id:
                    raise ValueError(f"`{key}` map names item {item_id!r}, which is not in this turn")
                by_id[item_id][field] = value
        return {"items": items}

    def by_id(self) -> dict[str, ChecklistItem]:
        return {item.id: item for item in self.items}

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    def dump_items(self) -> list[dict[str, Any]]:
        return [item.dump() for item in self.items]


Checklist = list[TurnChecklist]
"""One checklist of a dialogue: a `TurnChecklist` per turn."""
