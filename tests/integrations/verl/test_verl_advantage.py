"""The `cm2_checklist` estimator through VeRL's registry and `compute_advantage` must give exactly the
per-token advantages of cm2's embedded trainer (`cm2.scoring.score_group`, `cm2.train.rollouts.token_advantages`)
on the same rollouts."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

pytest.importorskip("verl")

import torch
from omegaconf import OmegaConf
from verl import DataProto
from verl.trainer.ppo.core_algos import get_adv_estimator_fn
from verl.trainer.ppo.ray_trainer import compute_advantage
from verl_builders import GOOD, GUESS, MALFORMED, SILENT_FIRST, ScriptedServer

import cm2.integrations.verl  # noqa: F401
from cm2.integrations.verl.advantage import advantages_from_rewards, provide_records
from cm2.integrations.verl.policy import ServerTokenPolicy
from cm2.integrations.verl.record import RolloutRecord, record_from_trajectory, turn_end_rewards
from cm2.judge import ChecklistJudge, JudgeConfig
from cm2.llm import LLMConfig
from cm2.llm.factory import make_client
from cm2.llm.testing import FakeOpenAIServer, build_tiny_tokenizer
from cm2.reward import RewardConfig, turn_advantages
from cm2.rollout.episode import EpisodeConfig, EpisodeRunner
from cm2.rollout.monitors import monitor_counts
from cm2.schema import Dialogue, Trajectory
from cm2.scoring import score_group
from cm2.testing import reply_judge, weather_dialogue
from cm2.tools import HybridToolSimulator
from cm2.train.rollouts import token_advantages

GROUPS = {"uidA": (False, [GOOD, SILENT_FIRST, GUESS, MALFORMED]), "uidB": (True, [GOOD, GUESS, SILENT_FIRST])}
"""uid -> (C0 required_for_next_turn, scripts): group A never stops early, group B does."""


async def _episodes(judge_url: str) -> dict[str, tuple[Dialogue, list[Trajectory]]]:
    tokenizer = build_tiny_tokenizer()
    client = make_client(LLMConfig(model="fake-judge", base_urls=[judge_url], api_key_env=None))
    judge = ChecklistJudge(client, JudgeConfig(mode="batched"))
    episode = EpisodeConfig.model_validate({"sampling": {"max_new_tokens": 64}, "limits": {"max_steps_per_turn": 3}})
    out = {}
    for uid, (required, scripts) in GROUPS.items():
        dialogue = weather_dialogue(f"dlg-{uid}", required=required)
        trajectories = []
        for script in scripts:
            policy = ServerTokenPolicy(ScriptedServer(tokenizer, [script]), tokenizer, {"logprobs": True})
            runner = EpisodeRunner(policy, HybridToolSimulator, judge, episode)
            trajectories.append(await runner.run(dialogue, group=uid))
        out[uid] = (dialogue, trajectories)
    return out


@pytest.fixture(scope="module")
def episodes() -> dict[str, tuple[Dialogue, list[Trajectory]]]:
    with FakeOpenAIServer(reply_judge) as judge:
        return asyncio.run(_episodes(judge.base_url))


def batch(
    episodes: dict[str, tuple[Dialogue, list[Trajectory]]], config: RewardConfig
) -> tuple[dict[str, torch.Tensor], list[str], list[RolloutRecord], np.ndarray]:
    """VeRL's padded batch (rm_scores as the agent loop writes them), the records, and cm2's own answer."""
    records, uids, expected, rows = [], [], [], []
    for uid, (dialogue, trajectories) in episodes.items():
        scores = score_group(dialogue, trajectories, config, drop_unavailable=True)
        expected += token_advantages(dialogue, trajectories, scores)
        for trajectory in trajectories:
            record = record_from_trajectory(trajectory, dialogue, config)
            assert record.monitors == monitor_counts(trajectory)  # the monitors travel with the record
            assert trajectory.tokens is not None
            mask = trajectory.tokens.loss_mask
            records.append(record)
            uids.append(uid)
            rows.append((mask, turn_end_rewards(record.reward_by_turn, record.spans, mask)))
    width = max(len(mask) for mask, _ in rows)
    masks, rewards, want = (np.zeros((len(rows), width)) for _ in range(3))
    for i, ((mask, reward), adv) in enumerate(zip(rows, expected, strict=True)):
        masks[i, : len(mask)], rewards[i, : len(mask)], want[i, : len(adv)] = mask, reward, adv
    tensors = {
        "token_level_rewards": torch.tensor(rewards, dtype=torch.float32),
        "response_mask": torch.tensor(masks, dtype=torch.int64),
    }
    return tensors, uids, records, want


def algorithm(config: RewardConfig, **extra: Any) -> Any:
    return OmegaConf.create({"adv_estimator": "cm2_checklist", "cm2": config.model_dump(), **extra})


LEVELS = [("trajectory", "one"), ("trajectory", "std"), ("turn", "one"), ("turn", "std"), ("step", "one")]


@pytest.mark.parametrize(("level", "scale"), LEVELS)
def test_registered_estimator_matches_cm2(episodes: Any, level: str, scale: str) -> None:
    config = RewardConfig(level=level, scale=scale)
    tensors, uids, records, want = batch(episodes, config)
    estimator = get_adv_estimator_fn("cm2_checklist")
    with provide_records(uids, records):
        advantages, returns = estimator(**tensors, config=algorithm(config), index=np.array(uids, dtype=object))
    np.testing.assert_allclose(advantages.numpy(), want, atol=1e-6)
    assert torch.equal(advantages, returns) and advantages.dtype == torch.float32
    assert np.abs(want).max() > 0


@pytest.mark.parametrize("level", ["trajectory", "turn", "step"])
def test_compute_advantage_with_dataproto(episodes: Any, level: str) -> None:
    config = RewardConfig(level=level, scale="one")
    tensors, uids, records, want = batch(episodes, config)
    data = DataProto.from_dict(tensors=tensors, non_tensors={"uid": np.array(uids, dtype=object)})
    with provide_records(uids, records):
        data = compute_advantage(data, adv_estimator="cm2_checklist", config=algorithm(config))
    np.testing.assert_allclose(data.batch["advantages"].numpy(), want, atol=1e-6)


@pytest.mark.parametrize("scale", ["one", "std"])
def test_trajectory_level_needs_no_records(episodes: Any, scale: str) -> None:
    """Any VeRL trainer works at trajectory level: R is the row sum of the per-token rewards (tensors alone
    cannot tell which rollouts to drop, so unknown verdicts must be accepted as false explicitly)."""
    config = RewardConfig(level="trajectory", scale=scale, unknown="false")
    tensors, uids, _, want = batch(episodes, config)
    data = DataProto.from_dict(tensors=tensors, non_tensors={"uid": np.array(uids, dtype=object)})
    data = compute_advantage(data, adv_estimator="cm2_checklist", config=algorithm(config))
    np.testing.assert_allclose(data.batch["advantages"].numpy(), want, atol=1e-5)


def test_a_zero_reward_turn_keeps_its_own_advantage(episodes: Any) -> None:
    """GUESS in group A earns 0 in turn 0 and 1 in turn 1: turn 0's tokens get turn 0's group advantage,
    which tensors alone cannot tell apart from turn 1 (no non-zero reward marks where turn 0 ends)."""
    config = RewardConfig(level="turn", scale="one")
    tensors, uids, records, _ = batch(episodes, config)
    guess = 2
    assert records[guess].reward_by_turn[0] == 0.0 and records[guess].reward_by_turn[1] > 0
    with provide_records(uids, records):
        advantages, _ = get_adv_estimator_fn("cm2_checklist")(**tensors, config=algorithm(config), index=uids)
    group = [r.scored(config).turn_rewards() for r in records[:4]]
    per_turn = turn_advantages(group, scale="one")[guess]
    for turn, step, start, end in records[guess].spans:
        assert advantages[guess, start:end].tolist() == pytest.approx([per_turn[turn]] * (end - start)), (turn, step)
    assert per_turn[0] != pytest.approx(per_turn[1])
    with pytest.raises(ValueError, match=r"trainer\.v1\.trainer_mode to one of cm2_colocate_async, cm2_separate_async"):
        advantages_from_rewards(tensors["token_level_rewards"].numpy(), uids, tensors["response_mask"].numpy(), config)


def test_kl_in_reward_is_refused_with_records(episodes: Any) -> None:
    config = RewardConfig()
    tensors, uids, records, _ = batch(episodes, config)
    with provide_records(uids, records), pytest.raises(ValueError, match="use_kl_in_reward=false"):
        get_adv_estimator_fn("cm2_checklist")(
            **tensors, config=algorithm(config, use_kl_in_reward=True), index=np.array(uids)
        )


def test_misaligned_or_mixed_records_are_errors(episodes: Any) -> None:
    config = RewardConfig(level="turn")
    tensors, uids, records, _ = batch(episodes, config)
    estimator = get_adv_estimator_fn("cm2_checklist")
    with provide_records(list(reversed(uids)), records), pytest.raises(RuntimeError, match="row order"):
        estimator(**tensors, config=algorithm(config), index=uids)
    mixed = ["uidA"] * len(uids)
    with provide_records(mixed, records), pytest.raises(ValueError, match="uid uidA: row 4 was scored against"):
        estimator(**tensors, config=algorithm(config), index=mixed)
    missing: list[Any] = [*records[:-1], None]
    with provide_records(uids, missing), pytest.raises(ValueError, match="no cm2 rollout record"):
        estimator(**tensors, config=algorithm(config), index=uids)
