"""The reward-relevant part of one turn's checklist: item ids, weights, dependencies, strictness."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cm2.schema import TurnChecklist, find_cycle


class TurnSpec(BaseModel):
    """Items of one checklist turn, as parallel tuples indexed by item position `c`.

    Weights are not required to sum to 1 (the schema's validation checks that); rewards are
    only bounded by 1 per turn when they do.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ids: Annotated[tuple[str, ...], Field(description="Item ids, unique within the turn.")]
    weights: Annotated[tuple[float, ...], Field(description="Item weights (>= 0).")]
    dependencies: Annotated[
        tuple[tuple[str, ...], ...],
        Field(description="Per item, ids of items of the same turn that must be satisfied first."),
    ] = ()
    required_for_next_turn: Annotated[
        tuple[bool, ...], Field(description="Per item, whether the rollout ends if it is unsatisfied.")
    ] = ()

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: object) -> object:
        if isinstance(data, dict) and "ids" in data:
            n = len(data["ids"])
            data = dict(data)
            if not data.get("dependencies"):
                data["dependencies"] = [()] * n
            if not data.get("required_for_next_turn"):
                data["required_for_next_turn"] = [False] * n
        return data

    @model_validator(mode="after")
    def _check(self) -> TurnSpec:
        n = len(self.ids)
        for name in ("weights", "dependencies", "required_for_next_turn"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"`{name}` has {len(getattr(self, name))} entries but there are {n} items")
        if len(set(self.ids)) != n:
            dup = next(i for i in self.ids if self.ids.count(i) > 1)
            raise ValueError(f"item {dup!r}: duplicate id")
        for item, weight in zip(self.ids, self.weights, strict=True):
            if not weight >= 0.0:
                raise ValueError(f"item {item!r}: weight {weight} is negative or not a number")
        known = set(self.ids)
        for item, deps in zip(self.ids, self.dependencies, strict=True):
            for dep in deps:
                if dep == item:
                    raise ValueError(f"item {item!r}: depends on itself")
                if dep not in known:
                    raise ValueError(f"item {item!r}: depends on {dep!r}, which is not an item of this turn")
        cycle = find_cycle({item: list(deps) for item, deps in zip(self.ids, self.dependencies, strict=True)})
        if cycle:
            raise ValueError("dependency cycle " + " -> ".join(cycle))
        return self

    @classmethod
    def from_checklist(cls, turn: TurnChecklist) -> TurnSpec:
        """The spec of a schema `TurnChecklist`."""
        return cls(
            ids=tuple(item.id for item in turn.items),
            weights=tuple(item.weight for item in turn.items),
            dependencies=tuple(tuple(item.dependence) for item in turn.items),
            required_for_next_turn=tuple(item.required_for_next_turn for item in turn.items),
        )

    def _key(self) -> tuple[object, ...]:
        return (self.ids, self.weights, self.dependencies, self.required_for_next_turn)

    def __eq__(self, other: object) -> bool:
        # By fields only: the cached numpy arrays below live in __dict__ and cannot be compared with ==.
        return self._key() == other._key() if isinstance(other, TurnSpec) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def num_items(self) -> int:
        return len(self.ids)

    @cached_property
    def weight_array(self) -> np.ndarray:
        """Weights as a float array of shape (C,)."""
        return np.asarray(self.weights, dtype=float).reshape(len(self.ids))

    @cached_property
    def dependency_matrix(self) -> np.ndarray:
        """Bool array (C, C): entry [c, d] is True when item c depends on item d."""
        index = {item: c for c, item in enumerate(self.ids)}
        matrix = np.zeros((len(self.ids), len(self.ids)), dtype=bool)
        for c, deps in enumerate(self.dependencies):
            for dep in deps:
                matrix[c, index[dep]] = True
        return matrix

    def index(self, item: str) -> int:
        """Position of item `item`; a clear error when it is not in the turn."""
        try:
            return self.ids.index(item)
        except ValueError:
            raise KeyError(f"item {item!r} is not in this turn (items: {', '.join(self.ids)})") from None


def checklist_specs(checklist: Sequence[TurnChecklist]) -> list[TurnSpec]:
    """One `TurnSpec` per turn of a schema checklist, errors naming the turn."""
    specs = []
    for t, turn in enumerate(checklist):
        try:
            specs.append(TurnSpec.from_checklist(turn))
        except ValidationError as error:
            reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
            raise ValueError(f"turn {t}: {reasons}") from error
    return specs
