"""Validation metrics chosen by name: a benchmark's own outcome numbers for the rollouts of a validation probe.

The checklist reward is what RL optimizes; a benchmark often has outcome numbers of its own (the state its
backends end in, the exact calls per turn). A validation metric computes them for the probe's greedy
rollouts of unseen dialogues, so the probe's curve shows them and early stopping (`probe.keep_best`) can keep
the step that is best on them. Register one with `@register_validation_metric("name")`, or from an installed
package through the entry-point group `cm2.validation_metrics`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field

from cm2.registry import Registry
from cm2.schema import Dialogue, Trajectory


@dataclass(frozen=True)
class ValidationScore:
    """Named values for the probe's log (shares in [0, 1]) and the one number early stopping compares."""

    values: dict[str, float]
    score: float


ValidationMetric = Callable[[list[Dialogue], list[Trajectory]], ValidationScore]
"""Scores the rollouts of whole dialogues (each trajectory's `dialogue_uuid` names its dialogue)."""

VALIDATION_METRICS: Registry[ValidationMetric] = Registry("validation metric", group="cm2.validation_metrics")


def register_validation_metric(name: str) -> Callable[[ValidationMetric], ValidationMetric]:
    """Register a validation metric under `name` (the value of `probe.metric`)."""
    return VALIDATION_METRICS.register(name)


ValidationMetricName = Annotated[
    str,
    AfterValidator(VALIDATION_METRICS.check),
    Field(description="A registered validation metric (one a plug-in registers)."),
]
