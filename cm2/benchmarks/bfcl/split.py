"""The demo's fixed train / held-out split of BFCL entries, by entry id.

An entry id ends in its index within its category (`multi_turn_base_37`). Indices whose last digit is
0–7 are train, 8–9 held out: 80% / 20% of every category, the same on every machine and for every
subset, with no randomness. This is a DEMO split for showing the pipeline; scores on its held-out
part are not BFCL leaderboard numbers (the leaderboard runs every entry of a category).
"""

from __future__ import annotations

from typing import Literal

DemoSplit = Literal["train", "heldout"]
SplitChoice = Literal["train", "heldout", "all"]
HELDOUT_DIGITS = frozenset({8, 9})
SPLIT_RULE = (
    "entry index (the number after the last '_' of the BFCL id) ending in 0-7: train; ending in 8-9: heldout. "
    "A demo split: scores on it are not BFCL leaderboard numbers."
)


def entry_index(entry_id: str) -> int:
    """The index at the end of a BFCL entry id; ValueError for ids of another shape."""
    head, _, tail = entry_id.rpartition("_")
    if not head or not tail.isdigit():
        raise ValueError(f"not a BFCL entry id (expected '<category>_<index>'): {entry_id!r}")
    return int(tail)


def split_of(entry_id: str) -> DemoSplit:
    """`train` or `heldout` for one entry id."""
    return "heldout" if entry_index(entry_id) % 10 in HELDOUT_DIGITS else "train"


def in_split(entry_id: str, split: SplitChoice) -> bool:
    """Whether the entry belongs to `split` (`all` takes every entry)."""
    return split == "all" or split_of(entry_id) == split
