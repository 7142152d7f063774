"""VeRL v1 trainers that hand the `cm2_checklist` estimator each rollout's record.

VeRL's `PPOTrainer._compute_advantage` reads only tensors (uid, masks, rm_scores, log-probs) from the
TransferQueue, so turn and step boundaries never reach an estimator. These subclasses also read
`extra_fields` for the same keys, make the records visible to the estimator for the duration of the
parent's call (KL penalty, rollout correction and the write-back stay VeRL's own code), and log
checklist metrics. Select one with `trainer.v1.trainer_mode=cm2_sync` (or `cm2_colocate_async`,
`cm2_separate_async`); every other setting behaves as in the VeRL mode it extends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import transfer_queue as tq
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_colocate_async import PPOTrainerColocateAsync
from verl.trainer.ppo.v1.trainer_separate_async import PPOTrainerSeparateAsync
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from cm2.integrations.verl.advantage import provide_records
from cm2.integrations.verl.config import ESTIMATOR_NAME
from cm2.integrations.verl.record import RolloutRecord
from cm2.rollout.monitors import monitors_from_counts
from cm2.train.seam import episode_metrics


def _values(field: Any) -> list[Any]:
    """A TransferQueue non-tensor column as a Python list."""
    if field is None:
        return []
    tolist = getattr(field, "tolist", None)
    return list(tolist()) if callable(tolist) else list(field)


def record_metrics(records: Sequence[RolloutRecord]) -> dict[str, float]:
    """Checklist metrics of a batch of rollouts (logged under `cm2/`)."""
    if not records:
        return {}
    rewards = np.asarray([r.reward for r in records], dtype=float)
    stops = [r.stop_reason for r in records]
    metrics = {
        "cm2/reward/mean": float(rewards.mean()),
        "cm2/reward/max": float(rewards.max()),
        "cm2/reward/min": float(rewards.min()),
        "cm2/turns_reached/mean": float(np.mean([r.turns_reached for r in records])),
        "cm2/valid_rate": float(np.mean([r.valid for r in records])),
        "cm2/tool_errors/mean": float(np.mean([r.tool_errors for r in records])),
        "cm2/unavailable_verdicts/mean": float(np.mean([r.unavailable_verdicts for r in records])),
    }
    for reason in ("max_turns", "max_steps", "max_tokens", "judge_unavailable"):
        metrics[f"cm2/stop/{reason}"] = stops.count(reason) / len(records)
    counts = [r.monitors for r in records if r.monitors is not None]
    # the early-stop rate and reward-hacking monitors, as the embedded trainer logs them
    metrics.update(episode_metrics(stops, monitors_from_counts(counts)))
    return metrics


class CM2AdvantageMixin:
    """Passes rollout records to `cm2_checklist`; behaves as the VeRL mode named by `base_mode`.

    VeRL's base trainer compares `self.trainer_mode` with "sync" (replay buffer, checkpoints, refills)
    and reads `trainer.v1.<mode>` settings, so the registered name is mapped back to the base mode.
    """

    base_mode = "sync"
    config: Any

    @property
    def trainer_mode(self) -> str:
        return self.base_mode

    @trainer_mode.setter
    def trainer_mode(self, value: str) -> None:
        """VeRL assigns the registered name here; the mixin keeps answering with the base mode."""

    def _compute_advantage(self, batch: Any, metrics: dict[str, Any]) -> Any:
        parent = super()._compute_advantage  # type: ignore[misc]
        if self.config.algorithm.adv_estimator != ESTIMATOR_NAME:
            return parent(batch, metrics)
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["uid", "extra_fields"])
        uids = _values(data.get("uid"))
        extras = _values(data.get("extra_fields"))
        raw = [extra.get("cm2") if isinstance(extra, dict) else None for extra in extras]
        records = [RolloutRecord.model_validate(r) if r is not None else None for r in raw]
        with provide_records(uids, records):
            result = parent(batch, metrics)
        metrics.update(record_metrics([r for r in records if r is not None]))
        return result


@register_trainer("cm2_sync")
class CM2PPOTrainerSync(CM2AdvantageMixin, PPOTrainerSync):
    """VeRL's synchronous trainer with cm2's checklist advantages at every level."""

    base_mode = "sync"


@register_trainer("cm2_colocate_async")
class CM2PPOTrainerColocateAsync(CM2AdvantageMixin, PPOTrainerColocateAsync):
    """VeRL's colocated asynchronous trainer with cm2's checklist advantages at every level."""

    base_mode = "colocate_async"


@register_trainer("cm2_separate_async")
class CM2PPOTrainerSeparateAsync(CM2AdvantageMixin, PPOTrainerSeparateAsync):
    """VeRL's separated asynchronous trainer with cm2's checklist advantages at every level."""

    base_mode = "separate_async"
