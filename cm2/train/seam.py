"""cm2's side of the seam with a trainer backend: rollouts in, a scored batch out.

A backend (TRL's GRPOTrainer in `cm2.train.trl_adapter`, or another loop) owns the model, the optimizer, the
loss and the distributed machinery. For each generation batch it hands cm2 a `RolloutRequest` (the dataset
rows and a way to reach the policy model) and gets back a `ScoredBatch`: per rollout the tokens, loss mask and
sampled log-probs (in each trajectory's `tokens`), the reward and the per-token advantages, plus the batch's
metrics. Nothing here imports an engine, so a backend upgrade never touches this file.

The VeRL plugin scores one rollout at a time (VeRL streams rollouts and forms groups only in its advantage
estimator), so it hands records instead of batches; it shares the episode metrics below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from cm2.rollout.monitors import RolloutMonitors, rollout_monitors
from cm2.schema import TokenRecord, Trajectory


@dataclass(frozen=True)
class RolloutRequest:
    """What a trainer backend hands cm2 for one generation batch (this process's share)."""

    rows: Sequence[Mapping[str, Any]]
    """Dataset rows, one per rollout: `cm2_uuid` names the dialogue, `cm2_checklist` the checklist. A group's
    rollouts are consecutive (the same row repeated once per rollout of the group)."""
    policy_model: Callable[[], AbstractContextManager[Any]]
    """Enters the policy model ready to generate. cm2 enters it once per batch, so a backend that gathers
    sharded parameters there (ZeRO-3, FSDP) gathers them once, whatever each episode does."""
    tokenizer: Any
    step: int
    """The optimizer step these rollouts feed, numbered like the trainer's log (labels the trajectories)."""


@dataclass
class ScoredBatch:
    """The rollouts of one generation batch (this process's share) with their rewards and advantages."""

    trajectories: list[Trajectory]
    rewards: list[float]
    token_advantages: list[list[float]]
    """Per rollout, one advantage per token of `tokens.completion_ids` (0 where the loss mask is 0)."""
    turn_rewards: list[list[float]] = field(default_factory=list)
    dropped: int = 0
    """Rollouts left out for verdicts the judge could not give (no advantage)."""
    retried: int = 0
    """Episodes run again because the judge could not give every verdict."""
    rollout_seconds: float = 0.0
    """Wall-clock time of the batch's episodes (generation, tools and judge)."""
    extra_metrics: dict[str, float] = field(default_factory=dict)
    """More per-batch numbers to log under `cm2/` (e.g. how many groups were flat)."""

    def tokens(self) -> list[TokenRecord]:
        """Each rollout's tokens: prompt ids, completion ids, loss mask and sampled log-probs."""
        records = [t.tokens for t in self.trajectories]
        missing = [i for i, record in enumerate(records) if record is None]
        if missing:
            raise ValueError(f"rollout {missing[0]} of the batch has no tokens (not a token policy?)")
        return [record for record in records if record is not None]

    def metrics(self) -> dict[str, float]:
        """What a backend logs for the batch, under `cm2/`."""
        return {
            **episode_metrics([t.stop_reason for t in self.trajectories], rollout_monitors(self.trajectories)),
            "cm2/rollout_seconds": self.rollout_seconds,
            "cm2/unavailable_dropped": float(self.dropped),
            "cm2/unavailable_retried": float(self.retried),
            **self.extra_metrics,
        }


class RolloutSource(Protocol):
    """cm2's rollouts as a backend sees them (`cm2.train.rollouts.CM2Rollouts`)."""

    def __call__(self, request: RolloutRequest) -> ScoredBatch: ...


def episode_metrics(stop_reasons: Sequence[str | None], monitors: RolloutMonitors) -> dict[str, float]:
    """How a batch's episodes ended and behaved: the early-stop rate and the reward-hacking monitors."""
    early = sum(reason == "required_item_failed" for reason in stop_reasons)
    return {"cm2/early_stop_rate": early / max(1, len(stop_reasons)), **monitors.as_metrics()}
