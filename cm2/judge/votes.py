"""Combining several answers about the same item into one verdict."""

from __future__ import annotations

from cm2.judge.config import TiePolicy

_TIE: dict[TiePolicy, bool | None] = {"false": False, "true": True, "none": None}


def majority(votes: list[bool | None], tie: TiePolicy = "false") -> bool | None:
    """The majority of the votes that are not None; a tie follows `tie`; no usable vote gives None."""
    yes = sum(1 for vote in votes if vote is True)
    no = sum(1 for vote in votes if vote is False)
    if yes == no == 0:
        return None
    if yes == no:
        return _TIE[tie]
    return yes > no
