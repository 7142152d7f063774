"""The `cm2_checklist` advantage estimator: cm2.reward's trajectory, turn or step advantages inside VeRL.

VeRL calls a registered estimator with token tensors only (`token_level_rewards`, `response_mask`,
`config=algorithm`, `index=uid`). Two ways in:

- with rollout records (the `cm2_*` trainers provide them through `provide_records` from the agent
  loop's `extra_fields`): every level, computed by `cm2.reward.compute_group` per uid group, exactly as
  the embedded trainer does, so a turn whose reward is 0 keeps its own boundaries;
- tensors alone (any trainer, v1 or legacy): trajectory level only, from R = the row sum of the
  token rewards (the agent loop's per-token `rm_scores` sum to R).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cm2.integrations.verl.config import ESTIMATOR_NAME, TRAINER_NAMES, reward_config
from cm2.integrations.verl.record import RolloutRecord
from cm2.reward import RewardConfig, compute_group, trajectory_advantages

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class RecordBatch:
    """Rollout records in the row order of the batch the estimator is about to see."""

    uids: list[str]
    records: list[RolloutRecord | dict[str, Any] | None]


_RECORDS: ContextVar[RecordBatch | None] = ContextVar("cm2_verl_records", default=None)


@contextmanager
def provide_records(
    uids: Sequence[Any], records: Sequence[RolloutRecord | dict[str, Any] | None]
) -> Iterator[RecordBatch]:
    """Make `records` (one per batch row, same order as `uids`) visible to `checklist_advantage`."""
    if len(uids) != len(records):
        raise ValueError(f"{len(uids)} uids but {len(records)} rollout records")
    batch = RecordBatch([str(u) for u in uids], list(records))
    token = _RECORDS.set(batch)
    try:
        yield batch
    finally:
        _RECORDS.reset(token)


def _groups(index: Sequence[Any] | None, size: int) -> dict[str, list[int]]:
    if index is None:
        raise ValueError(f"{ESTIMATOR_NAME} needs `index` (the uid of each row) to form groups")
    if len(index) != size:
        raise ValueError(f"{len(index)} uids for {size} rows")
    groups: dict[str, list[int]] = {}
    for row, uid in enumerate(index):
        groups.setdefault(str(uid), []).append(row)
    return groups


def _record(batch: RecordBatch, row: int) -> RolloutRecord:
    raw = batch.records[row]
    if raw is None:
        raise ValueError(
            f"row {row} (uid {batch.uids[row]}) has no cm2 rollout record: was it produced by the "
            "`cm2_agent` agent loop?"
        )
    return raw if isinstance(raw, RolloutRecord) else RolloutRecord.model_validate(raw)


def advantages_from_records(
    batch: RecordBatch, index: Sequence[Any], mask: np.ndarray, config: RewardConfig
) -> np.ndarray:
    """(B, T) advantages from the rollout records, one `compute_group` per uid group."""
    if [str(u) for u in index] != batch.uids:
        raise RuntimeError("the rollout records are not in the row order of the batch (uid mismatch)")
    out = np.zeros(mask.shape, dtype=float)
    for uid, members in _groups(index, mask.shape[0]).items():
        records = [_record(batch, row) for row in members]
        first = records[0]
        key = first.checklist_key()
        for row, record in zip(members, records, strict=True):
            if record.checklist_key() != key:
                raise ValueError(
                    f"uid {uid}: row {row} was scored against dialogue {record.dialogue} checklist "
                    f"{record.checklist}, the group's first row against dialogue {first.dialogue} checklist "
                    f"{first.checklist} (or the checklists differ)"
                )
        scores = compute_group([record.scored(config, first.specs) for record in records], config)
        for j, (row, record) in enumerate(zip(members, records, strict=True)):
            try:
                out[row] = scores.token_advantages(j, record.spans, mask[row])
            except ValueError as exc:
                raise ValueError(f"uid {uid}, row {row} (dialogue {record.dialogue}): {exc}") from exc
    return out


def advantages_from_rewards(
    rewards: np.ndarray, index: Sequence[Any], mask: np.ndarray, config: RewardConfig
) -> np.ndarray:
    """(B, T) trajectory-level advantages from per-token rewards alone (R = row sum)."""
    if config.level != "trajectory":
        modes = ", ".join(sorted(TRAINER_NAMES))
        raise ValueError(
            f"{ESTIMATOR_NAME} at level {config.level!r} needs each rollout's turn and step boundaries, which "
            f"VeRL does not pass to estimators: set trainer.v1.trainer_mode to one of {modes}"
        )
    if config.unknown == "drop":
        raise ValueError(
            f"{ESTIMATOR_NAME} with unknown='drop' (the default) needs the rollout records to know which rollouts "
            f"to drop: set trainer.v1.trainer_mode to one of {', '.join(sorted(TRAINER_NAMES))}, or accept judge "
            "outages as unmet items with algorithm.cm2.unknown='false'"
        )
    totals = rewards.sum(axis=1)
    out = np.zeros(mask.shape, dtype=float)
    for members in _groups(index, mask.shape[0]).values():
        advantages = trajectory_advantages(totals[members], scale=config.scale, eps=config.eps)
        out[members] = advantages[:, None] * mask[members]
    return out


def checklist_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    config: Any = None,
    index: Sequence[Any] | None = None,
    **_: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """VeRL advantage estimator `cm2_checklist`: returns (advantages, returns), both (B, T)."""
    import torch

    settings = reward_config(config)
    mask = response_mask.detach().cpu().numpy().astype(bool)
    batch = _RECORDS.get()
    if batch is not None:
        if config is not None and bool(config.get("use_kl_in_reward", False)):
            raise ValueError(
                f"{ESTIMATOR_NAME} computes advantages from checklist verdicts, so a KL penalty in the reward would "
                "be lost: set algorithm.use_kl_in_reward=false and use actor_rollout_ref.actor.use_kl_loss=true"
            )
        if len(batch.uids) != mask.shape[0]:
            raise RuntimeError(f"{len(batch.uids)} rollout records for a batch of {mask.shape[0]} rows")
        values = advantages_from_records(batch, _as_list(index, batch.uids), mask, settings)
    else:
        rewards = token_level_rewards.detach().to(torch.float64).cpu().numpy()
        values = advantages_from_rewards(rewards, _as_list(index, None), mask, settings)
    advantages = torch.as_tensor(values, dtype=torch.float32, device=response_mask.device)
    return advantages, advantages


def _as_list(index: Sequence[Any] | None, fallback: list[str] | None) -> list[Any]:
    if index is None:
        if fallback is None:
            raise ValueError(f"{ESTIMATOR_NAME} needs `index` (the uid of each row) to form groups")
        return list(fallback)
    return list(index.tolist() if hasattr(index, "tolist") else index)


def register() -> None:
    """Register `cm2_checklist` in VeRL's advantage-estimator registry (idempotent)."""
    from verl.trainer.ppo.core_algos import register_adv_est

    register_adv_est(ESTIMATOR_NAME)(checklist_advantage)
