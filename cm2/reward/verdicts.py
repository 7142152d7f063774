"""From the judge's `cm2.schema.Verdict` records to verdict rows (S, C) per turn."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cm2.reward.spec import TurnSpec
from cm2.schema import Verdict


def verdict_rows(
    verdicts: Iterable[Verdict], specs: Sequence[TurnSpec], steps_per_turn: Sequence[int]
) -> list[list[list[bool | None]]]:
    """Rows `[t][s][c]` for the reached turns of one rollout under one checklist.

    `steps_per_turn[t]` is the number of assistant steps of reached turn t. A missing verdict is
    None (unknown); it only matters for an item not yet satisfied at that step (a judge may skip those
    already satisfied). Two different verdicts for the same turn, step and item are an error.
    """
    if len(steps_per_turn) > len(specs):
        raise ValueError(f"{len(steps_per_turn)} turns reached, but the checklist has {len(specs)}")
    rows: list[list[list[bool | None]]] = [
        [[None] * specs[t].num_items for _ in range(num_steps)] for t, num_steps in enumerate(steps_per_turn)
    ]
    seen: set[tuple[int, int, str]] = set()
    for verdict in verdicts:
        where = f"verdict for turn {verdict.turn}, step {verdict.step}, item {verdict.item!r}"
        if not 0 <= verdict.turn < len(rows):
            raise ValueError(f"{where}: the rollout reached {len(rows)} turns")
        if not 0 <= verdict.step < len(rows[verdict.turn]):
            raise ValueError(f"{where}: turn {verdict.turn} has {len(rows[verdict.turn])} steps")
        try:
            c = specs[verdict.turn].index(verdict.item)
        except KeyError as error:
            raise ValueError(f"{where}: {error.args[0]}") from None
        key = (verdict.turn, verdict.step, verdict.item)
        current = rows[verdict.turn][verdict.step][c]
        if key in seen and current != verdict.satisfied:
            raise ValueError(f"{where}: conflicting verdicts {current} and {verdict.satisfied}")
        seen.add(key)
        rows[verdict.turn][verdict.step][c] = verdict.satisfied
    return rows
