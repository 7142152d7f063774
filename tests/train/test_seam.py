"""cm2's side of the trainer seam: a `RolloutRequest` in, a `ScoredBatch` out, with no trainer engine in the loop
(cm2's rollouts drive the tiny random model on CPU directly, as a backend other than TRL would)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from rl_builders import tiny_rl_config, two_turn_dialogue

from cm2.schema import Message, TokenRecord, Trajectory
from cm2.testing import RuleJudge, even_length
from cm2.tools import HybridToolSimulator
from cm2.train.models import load_policy
from cm2.train.rollouts import CM2Rollouts
from cm2.train.seam import RolloutRequest, ScoredBatch


def test_a_request_comes_back_as_a_scored_batch_of_tokens_and_advantages(
    tmp_path: Path, tiny_chatml_model: Path
) -> None:
    config = tiny_rl_config(
        tmp_path, tiny_chatml_model, reward={"level": "turn", "scale": "one"}, episode={"early_stop": False}
    )
    model, tokenizer = load_policy(config.model)
    model.train()
    dialogue = two_turn_dialogue()
    kept: list[Trajectory] = []
    rollouts = CM2Rollouts(
        {dialogue.uuid: dialogue}, HybridToolSimulator, RuleJudge(even_length), config.episode, config.reward, 4,
        on_trajectory=kept.append,
    )  # fmt: skip
    entered: list[bool] = []

    @contextmanager
    def policy_model() -> Iterator[Any]:
        entered.append(model.training)
        yield model

    rows = [{"cm2_uuid": dialogue.uuid, "cm2_checklist": 0}] * 4
    batch = rollouts(RolloutRequest(rows=rows, policy_model=policy_model, tokenizer=tokenizer, step=7))
    assert entered == [True] and model.training  # entered once per batch; the training mode comes back
    assert kept == batch.trajectories and len(batch.rewards) == 4
    assert {t.metadata["train_step"] for t in kept} == {7} and len({t.group for t in kept}) == 1
    for tokens, advantages in zip(batch.tokens(), batch.token_advantages, strict=True):
        assert len(advantages) == len(tokens.completion_ids) == len(tokens.loss_mask)
        assert tokens.logprobs is not None and len(tokens.logprobs) == len(tokens.completion_ids)
        assert all(a == 0 for a, trained in zip(advantages, tokens.loss_mask, strict=True) if not trained)
    metrics = batch.metrics()
    assert metrics["cm2/rollout_seconds"] > 0 and metrics["cm2/unavailable_dropped"] == 0
    assert metrics["cm2/early_stop_rate"] == 0 and metrics["cm2/turns_reached"] == 2  # no early stop: both turns


def _trajectory(stop: Any, tokens: TokenRecord | None = None) -> Trajectory:
    messages = [Message(role="user", content="hi"), Message(role="assistant", content="hello")]
    return Trajectory(dialogue_uuid="d", messages=messages, stop_reason=stop, tokens=tokens)


def test_the_batch_metrics_name_what_the_backends_log() -> None:
    batch = ScoredBatch(
        [_trajectory("required_item_failed"), _trajectory("completed")], [0.0, 1.0], [[], []],
        dropped=1, retried=2, rollout_seconds=3.5,
    )  # fmt: skip
    metrics = batch.metrics()
    assert metrics["cm2/early_stop_rate"] == 0.5 and metrics["cm2/final_reply_share"] == 1.0
    assert (metrics["cm2/unavailable_dropped"], metrics["cm2/unavailable_retried"]) == (1.0, 2.0)
    assert metrics["cm2/rollout_seconds"] == 3.5


def test_a_rollout_without_tokens_is_named() -> None:
    record = TokenRecord(prompt_ids=[1], completion_ids=[2], loss_mask=[1])
    batch = ScoredBatch([_trajectory("completed", record), _trajectory("completed")], [0.0, 0.0], [[0.0], []])
    with pytest.raises(ValueError, match="rollout 1 of the batch has no tokens"):
        batch.tokens()
