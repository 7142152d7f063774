"""The TRL adapter: a scored batch as TRL's rollout output, cm2's metrics through TRL's `log_metric`, and the private
TRL surface the adapter relies on, checked against the installed TRL (the first test to fail on a TRL upgrade).
The real GRPO steps through the adapter are in test_grpo.py."""

from __future__ import annotations

import inspect

from cm2.schema import Message, TokenRecord, Trajectory
from cm2.train.seam import ScoredBatch
from cm2.train.trl_adapter import advantage_tensor, checklist_reward, rollout_fields


def _batch() -> ScoredBatch:
    messages = [Message(role="user", content="hi"), Message(role="assistant", content="hello")]
    tokens = [
        TokenRecord(prompt_ids=[1, 2], completion_ids=[3, 4, 5], loss_mask=[1, 0, 1], logprobs=[-0.1, 0.0, -0.3]),
        TokenRecord(prompt_ids=[1, 2], completion_ids=[], loss_mask=[]),  # the episode produced no token
    ]
    trajectories = [Trajectory(dialogue_uuid="d", messages=messages, tokens=t) for t in tokens]
    return ScoredBatch(trajectories, [1.0, 0.0], [[0.5, 0.0, 0.5], []], rollout_seconds=2.0)


def test_a_scored_batch_becomes_trls_rollout_output() -> None:
    fields = rollout_fields(_batch(), eos_token_id=9)
    assert fields["prompt_ids"] == [[1, 2], [1, 2]]
    assert fields["completion_ids"] == [[3, 4, 5], [9]]  # TRL needs a token; it is not trained
    assert fields["env_mask"] == [[1, 0, 1], [0]] and fields["logprobs"] == [[-0.1, 0.0, -0.3], [0.0]]
    assert fields["cm2_reward"] == [1.0, 0.0]
    assert fields["cm2_metrics"][0] == fields["cm2_metrics"][1] == _batch().metrics()


def test_the_reward_function_returns_the_rewards_and_logs_each_metric_once() -> None:
    logged: list[tuple[str, float]] = []
    fields = rollout_fields(_batch(), eos_token_id=9)
    rewards = checklist_reward(
        prompts=[[], []], completions=[[], []], cm2_reward=fields["cm2_reward"], cm2_metrics=fields["cm2_metrics"],
        log_metric=lambda name, value: logged.append((name, value)), trainer_state=None,
    )  # fmt: skip
    assert rewards == [1.0, 0.0]
    assert dict(logged) == _batch().metrics() and len(logged) == len(dict(logged))


def test_advantages_are_cut_or_zero_padded_to_trls_completion_width() -> None:
    assert advantage_tensor(_batch(), 4).tolist() == [[0.5, 0.0, 0.5, 0.0], [0.0] * 4]
    assert advantage_tensor(_batch(), 2).tolist() == [[0.5, 0.0], [0.0, 0.0]]


def test_the_private_trl_surface_the_adapter_relies_on_is_there() -> None:
    """If this fails after a TRL upgrade, re-read cm2/train/trl_adapter.py's docstring against the new TRL."""
    from trl import GRPOTrainer

    init = inspect.signature(GRPOTrainer.__init__).parameters
    assert "rollout_func" in init and "reward_funcs" in init
    assert list(inspect.signature(GRPOTrainer._generate_and_score_completions).parameters) == ["self", "inputs"]
    # Reward functions get `log_metric`; extra rollout_func keys reach them; env_mask becomes the tool mask.
    assert 'reward_kwargs["log_metric"]' in inspect.getsource(GRPOTrainer._calculate_rewards)
    assert 'extra_fields.pop("env_mask"' in inspect.getsource(GRPOTrainer._generate)
    # The loss takes (B, T) advantages as they are and unsqueezes (B,) ones.
    assert "if advantages.dim() == 1:" in inspect.getsource(GRPOTrainer._compute_loss)
    # The log-prob check scores a batch as TRL scores vLLM's samples, and logs beside TRL's own metrics.
    scoring = list(inspect.signature(GRPOTrainer._get_per_token_logps_and_entropies).parameters)
    assert scoring[:6] == ["self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size"]
    assert "self._metrics = " in inspect.getsource(GRPOTrainer.__init__)
    # Shared-prompt scoring swaps the shuffle that cuts a step's rows into micro-batches for one by whole groups.
    import trl.trainer.grpo_trainer as grpo_module

    assert callable(grpo_module.shuffle_sequence_dict)
    assert "shuffle_sequence_dict(generation_batch)" in inspect.getsource(GRPOTrainer._prepare_inputs)
