"""The data the trajectory viewer renders: embedded in the page as JSON, read by `static/viewer.js`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

CellStatus = Literal["sat", "fail", "unk", "carried"]
"""One item at one step: became satisfied here, not satisfied, unknown (no usable verdict), satisfied earlier."""
ItemStatus = Literal["sat", "fail", "unk"]
"""One item at the end of its turn: satisfied, not satisfied, never satisfied with some verdict unknown."""


class ItemInfo(BaseModel):
    """A checklist item as the viewer shows it."""

    id: str
    focus: str
    question: str
    pass_condition: str = ""
    failure_examples: list[str] = Field(default_factory=list)
    weight: float = 0.0
    dependence: list[str] = Field(default_factory=list)
    required: Annotated[bool, Field(description="required_for_next_turn: the rollout ends if it stays unmet.")] = False


class Cell(BaseModel):
    """One item at one assistant step."""

    item: str
    status: CellStatus
    verdict: bool | None = None
    source: Annotated[str | None, Field(description="llm, check, tool_error, carried, unavailable; None: none.")] = None
    reason: str | None = None
    votes: list[bool | None] | None = None
    flip: Annotated[float | None, Field(description="Flip reward r[s, c] (None without a checklist).")] = None
    backfilled: Annotated[float | None, Field(description="Backfilled reward r~[s, c].")] = None
    eligible: Annotated[bool | None, Field(description="Dependencies met and not yet satisfied before the step.")] = (
        None
    )


class CallView(BaseModel):
    name: str
    arguments: str


class ResultView(BaseModel):
    name: str | None = None
    content: str
    source: Annotated[str, Field(description="replayed, simulated, executed, error, or unrecorded.")]


class StepView(BaseModel):
    index: int
    thinking: str | None = None
    reply: str = ""
    calls: list[CallView] = Field(default_factory=list)
    results: list[ResultView] = Field(default_factory=list)
    parse_errors: list[str] = Field(default_factory=list)
    cells: list[Cell] = Field(default_factory=list)
    reward: Annotated[float | None, Field(description="Σ_c w·r[s, c]: what this step earned.")] = None
    advantage: Annotated[float | None, Field(description="The advantage on this step's tokens.")] = None


class TurnView(BaseModel):
    index: int
    user: str | None = None
    steps: list[StepView] = Field(default_factory=list)
    items: list[str] = Field(default_factory=list)
    final: dict[str, ItemStatus] = Field(default_factory=dict)
    earned: Annotated[dict[str, float], Field(description="Per item, weight × flip value this turn.")] = Field(
        default_factory=dict
    )
    reward: Annotated[float | None, Field(description="R_t.")] = None


class RolloutView(BaseModel):
    key: str
    run: Annotated[str | None, Field(description="The run's label, when a report shows several runs.")] = None
    dialogue: str
    group: str | None = None
    rollout: int
    checklist: int
    checklist_key: Annotated[str | None, Field(description="Key into ViewData.checklists; None: items unknown.")]
    train_step: int | None = None
    stop_reason: str | None = None
    reward: float | None = None
    reward_source: Annotated[str | None, Field(description="recorded, judge, or recomputed.")] = None
    advantage: float | None = None
    valid: bool | None = None
    level: str | None = None
    system: str | None = None
    turns: list[TurnView] = Field(default_factory=list)
    statuses: Annotated[list[ItemStatus], Field(description="The end-of-turn item statuses present.")] = Field(
        default_factory=list
    )
    notes: list[str] = Field(default_factory=list)


class ViewData(BaseModel):
    """Everything one viewer page shows."""

    title: str
    checklists: dict[str, list[list[ItemInfo]]] = Field(default_factory=dict)
    rollouts: list[RolloutView] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
