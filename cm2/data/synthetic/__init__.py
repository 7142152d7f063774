"""Deterministic synthetic tool-use dialogues, valid by default, with named defects to inject.

Dialogue `index` of stream `seed` is always the same record, whatever else is generated, so tests
and benchmarks can ask for exactly the dialogues they need. A valid dialogue passes every rule
filter: an optional system message, then turns of user → assistant steps (a `<think>` block and
tool calls with schema-valid arguments, answered by JSON tool messages with matching
`tool_call_id`) → an assistant reply with visible text. `DEFECTS` maps each defect name to the
filter rule that must reject it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cm2.data.synthetic._defects import DEFECTS, inject
from cm2.data.synthetic._valid import valid_dialogue

Record = dict[str, Any]


class SyntheticSpec(BaseModel):
    """The shape of generated dialogues."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_turns: Annotated[int, Field(ge=1, description="Turns per dialogue are drawn from 1..max_turns.")] = 3
    think: Annotated[bool, Field(description="Assistant messages start with a <think> block.")] = True
    tool_variants: Annotated[
        int, Field(ge=1, description="Distinct variants of each library tool (more distinct parameter schemas).")
    ] = 1
    fmt: Annotated[
        Literal["cm2", "nemotron"], Field(description="cm2: `tools` list; nemotron: tools in a `metadata` string.")
    ] = "cm2"


DEFAULT_SPEC = SyntheticSpec()


@dataclass(frozen=True)
class SyntheticDialogue:
    """One generated record and the defect injected into it (None for a valid one)."""

    index: int
    record: Record
    defect: str | None


def _to_format(record: Record, fmt: str) -> Record:
    if fmt == "nemotron":
        metadata = json.dumps({"tools": record["tools"]})
        return {"uuid": record["uuid"], "messages": record["messages"], "metadata": metadata, "reasoning": "on"}
    return record


def synthetic_dialogue(
    index: int = 0, *, seed: int = 0, defect: str | None = None, spec: SyntheticSpec = DEFAULT_SPEC
) -> Record:
    """Dialogue `index` of stream `seed`, valid unless `defect` (a key of `DEFECTS`) is given."""
    if defect is not None and defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; known: {', '.join(DEFECTS)}")
    if defect is not None and not spec.think and DEFECTS[defect] == "think_tags" and defect != "empty_user_message":
        raise ValueError(f"defect {defect!r} needs think=True")
    rng = random.Random((seed << 32) ^ index)
    record = valid_dialogue(rng, spec.max_turns, spec.think, spec.tool_variants)
    if defect is not None:
        inject(rng, record, defect)
    return _to_format(record, spec.fmt)


def synthetic_dialogues(
    n: int,
    *,
    seed: int = 0,
    defect_rate: float = 0.0,
    defects: Sequence[str] | None = None,
    spec: SyntheticSpec = DEFAULT_SPEC,
) -> Iterator[SyntheticDialogue]:
    """`n` dialogues; each carries one defect (drawn from `defects`, default all that fit `spec`)
    with probability `defect_rate`."""
    if defects is None:
        names = [d for d, rule in DEFECTS.items() if spec.think or rule != "think_tags" or d == "empty_user_message"]
    else:
        names = list(defects)
    if defect_rate > 0 and not names:
        raise ValueError("defect_rate > 0 needs at least one defect")
    chooser = random.Random(seed)
    for index in range(n):
        defect = chooser.choice(names) if chooser.random() < defect_rate else None
        yield SyntheticDialogue(index, synthetic_dialogue(index, seed=seed, defect=defect, spec=spec), defect)


__all__ = ["DEFECTS", "SyntheticDialogue", "SyntheticSpec", "synthetic_dialogue", "synthetic_dialogues"]
