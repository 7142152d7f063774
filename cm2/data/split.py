"""Selecting the cold-start SFT set, the RL set and the RL hold-out from a cleaned pool.

The paper's recipe (DESIGN.md §1, data pipeline): a cold-start set drawn from the pool; from the
rest, only multi-turn, multi-tool dialogues, an RL set with a validation hold-out.

Order is a hash. Every dialogue gets two 64-bit keys, `blake2b(f"{seed}:{stage}:{uuid}")` for the
stages `cold_start` and `rl`. Cold start takes the lowest cold-start keys among its candidates; the RL
hold-out then takes the lowest RL keys among the RL-eligible dialogues left, and RL training the next
ones. So the result depends on the seed and the uuids only, never on input order; growing the pool
moves only dialogues at the edges of the sets, each set changing in proportion to the growth (the
stages' keys are independent, so what cold start gives up spreads over the RL sets instead of landing
in the hold-out); and a planner keeps 17 bytes per record (keys and flags), never the records. Later
records whose uuid was already seen are duplicates: reported and left out (the first occurrence is the
one used).
"""

from __future__ import annotations

import hashlib
import math
from array import array
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cm2.config import YamlConfig
from cm2.data.shape import DialogueShape, dialogue_shape
from cm2.schema import Dialogue

Size = int | float | Literal["all"]
"""A set size: a count (int ≥ 0), a fraction of the set's candidates (float in (0, 1]) or "all"."""

SIZE_HELP = 'a count (8000), a fraction of the candidates (0.5) or "all" (all remaining candidates)'


def parse_size(text: str) -> Size:
    """Read a size written on the command line: `8000`, `0.25` or `all`."""
    value = text.strip().lower()
    if value == "all":
        return "all"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a size: use {SIZE_HELP}") from None


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"size must be {SIZE_HELP}, not a boolean")
    return value


def _check_size(value: Size) -> Size:
    if isinstance(value, int) and value < 0:
        raise ValueError(f"a count must be >= 0, got {value}")
    if isinstance(value, float) and not 0.0 < value <= 1.0:
        raise ValueError(f"a fraction must be in (0, 1], got {value}")
    return value


class RLFilter(BaseModel):
    """Which dialogues are complex enough for RL (all thresholds must hold)."""

    model_config = ConfigDict(extra="forbid")

    min_turns: Annotated[int, Field(ge=0, description="Fewest user turns (paper: multi-turn, so 2).")] = 2
    min_tool_calls: Annotated[int, Field(ge=0, description="Fewest tool calls over the whole dialogue.")] = 2
    min_distinct_tools: Annotated[
        int, Field(ge=0, description="Fewest distinct tool names called; 0 = no requirement.")
    ] = 0

    def accepts(self, shape: DialogueShape) -> bool:
        return (
            shape.turns >= self.min_turns
            and shape.tool_calls >= self.min_tool_calls
            and shape.distinct_tools >= self.min_distinct_tools
        )


class SplitConfig(YamlConfig):
    """How to split a pool into cold start, RL training and RL validation (loadable from YAML)."""

    seed: Annotated[int, Field(description="Salt of the ordering hash; another seed gives other sets.")] = 0
    cold_start: Annotated[Size, Field(description="Cold-start SFT set; a fraction is of its candidates.")] = 8000
    rl_val: Annotated[Size, Field(description="RL hold-out, taken first from the RL pool.")] = 500
    rl: Annotated[
        Size,
        Field(
            description="RL training set, from the RL pool after the hold-out (so the paper's 8k with 500 held "
            "out is rl=7500, rl_val=500); a fraction is of the pool."
        ),
    ] = 8000
    rl_filter: RLFilter = Field(default_factory=RLFilter)
    exclude_rl_eligible_from_cold_start: Annotated[
        bool,
        Field(
            description="Draw cold start only from dialogues that fail the RL filter. Default false, as in the "
            "paper: cold start comes from the whole pool and RL from what it leaves."
        ),
    ] = False

    _not_bool = field_validator("cold_start", "rl_val", "rl", mode="before")(_no_bool)
    _sizes = field_validator("cold_start", "rl_val", "rl")(_check_size)

    def with_overrides(self, overrides: dict[str, Any]) -> SplitConfig:
        """A copy with `overrides` applied (`None` values ignored); `rl_filter` keys may be given flat."""
        data = self.model_dump()
        for key, value in overrides.items():
            if value is None:
                continue
            if key in RLFilter.model_fields:
                data["rl_filter"][key] = value
            else:
                data[key] = value
        return SplitConfig.model_validate(data)


Stage = Literal["cold_start", "rl"]


def split_key(seed: int, stage: Stage, uuid: str) -> int:
    """A dialogue's 64-bit ordering key for one stage (stable across runs, machines and Python versions)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}:{stage}:{uuid}".encode(), digest_size=8).digest(), "big")


def draw_order(uuid: str) -> int:
    """A dialogue's place in the order `cm2 data split` draws its RL hold-out at seed 0: cm2's fixed subsets of
    a train file (a validation slice, RL's own dialogues, a probe set) are its first N, so they spread over the
    data instead of one block of similar uuids (a benchmark's ids often come in blocks of one domain)."""
    return split_key(0, "rl", uuid)


def resolve_size(size: Size, available: int) -> int:
    """How many of `available` candidates a size asks for (a fraction rounds half up)."""
    if size == "all":
        return available
    if isinstance(size, float):
        return math.floor(size * available + 0.5)
    return size


class Part(IntEnum):
    """Where one input record ends up."""

    UNUSED = 0
    COLD_START = 1
    RL_VAL = 2
    RL_TRAIN = 3
    DUPLICATE = 4
    INVALID = 5


OUTPUT_PARTS: dict[Part, str] = {Part.COLD_START: "cold_start", Part.RL_TRAIN: "rl_train", Part.RL_VAL: "rl_val"}


class PartCount(BaseModel):
    """One output set: how many were asked for, how many candidates there were, how many it got."""

    requested: int
    candidates: int
    selected: int

    @property
    def short(self) -> int:
        return max(0, self.requested - self.selected)


class SplitCounts(BaseModel):
    """What a split did with its input records."""

    records: int
    invalid: int
    duplicates: int
    rl_eligible: int
    cold_start: PartCount
    rl_val: PartCount
    rl_train: PartCount
    unused: int


_VALID, _ELIGIBLE = 1, 2


@dataclass
class SplitPlan:
    """The outcome of planning: `parts[i]` is the `Part` of the i-th record fed to the planner."""

    parts: np.ndarray
    counts: SplitCounts

    def part(self, index: int) -> Part:
        return Part(int(self.parts[index]))


class SplitPlanner:
    """Streams over a pool once (`add` per record, in file order), then assigns every record a `Part`."""

    def __init__(self, config: SplitConfig):
        self.config = config
        self._cold_keys = array("Q")
        self._rl_keys = array("Q")
        self._flags = bytearray()

    def __len__(self) -> int:
        return len(self._flags)

    def add(self, dialogue: Dialogue) -> None:
        """Record one valid dialogue (its part is known only after `plan`)."""
        eligible = self.config.rl_filter.accepts(dialogue_shape(dialogue))
        self._cold_keys.append(split_key(self.config.seed, "cold_start", dialogue.uuid))
        self._rl_keys.append(split_key(self.config.seed, "rl", dialogue.uuid))
        self._flags.append(_VALID | (_ELIGIBLE if eligible else 0))

    def add_invalid(self) -> None:
        """Record one input record that could not be read; it keeps its index and is never selected."""
        self._cold_keys.append(0)
        self._rl_keys.append(0)
        self._flags.append(0)

    def plan(self) -> SplitPlan:
        """Assign parts: duplicates out, then cold start, RL hold-out and RL training by ascending keys."""
        config = self.config
        cold_keys = np.frombuffer(self._cold_keys, dtype=np.uint64)
        rl_keys = np.frombuffer(self._rl_keys, dtype=np.uint64)
        flags = np.frombuffer(self._flags, dtype=np.uint8)
        valid = (flags & _VALID) > 0
        parts = np.where(valid, Part.UNUSED, Part.INVALID).astype(np.uint8)

        # First occurrence of each key wins; equal 64-bit keys mean equal uuids (collisions ~2^-64).
        valid_index = np.flatnonzero(valid)
        _, first = np.unique(cold_keys[valid_index], return_index=True)
        keep = np.zeros(len(flags), dtype=bool)
        keep[valid_index[first]] = True
        parts[valid & ~keep] = Part.DUPLICATE
        eligible = keep & ((flags & _ELIGIBLE) > 0)

        cold_pool = keep & ~eligible if config.exclude_rl_eligible_from_cold_start else keep
        cold = self._take(cold_keys, cold_pool, config.cold_start, parts, Part.COLD_START, skip=0)
        rl_pool = eligible & (parts == Part.UNUSED)
        rl_val = self._take(rl_keys, rl_pool, config.rl_val, parts, Part.RL_VAL, skip=0)
        rl_train = self._take(rl_keys, rl_pool, config.rl, parts, Part.RL_TRAIN, skip=rl_val.selected)

        counts = SplitCounts(
            records=len(flags),
            invalid=int((~valid).sum()),
            duplicates=int((valid & ~keep).sum()),
            rl_eligible=int(eligible.sum()),
            cold_start=cold,
            rl_val=rl_val,
            rl_train=rl_train,
            unused=int((parts == Part.UNUSED).sum()),
        )
        return SplitPlan(parts=parts, counts=counts)

    @staticmethod
    def _take(keys: np.ndarray, pool: np.ndarray, size: Size, parts: np.ndarray, part: Part, skip: int) -> PartCount:
        """Mark the lowest-keyed members of `pool` (after the first `skip`, which an earlier set took) as `part`.

        A fraction or "all" is resolved against the whole pool, `skip` included, so rl and rl_val
        fractions are shares of the same RL pool.
        """
        members = np.flatnonzero(pool)
        available = len(members) - skip
        requested = resolve_size(size, len(members))
        if size == "all":
            requested = available
        chosen = min(requested, available)
        order = members[np.argsort(keys[members], kind="stable")]
        parts[order[skip : skip + chosen]] = part
        return PartCount(requested=requested, candidates=available, selected=chosen)
