"""Pieces of the VeRL plugin that need no VeRL: the server policy adapter, turn-end rewards, settings.
(They run in the main environment too.)"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from verl_builders import GOOD, ScriptedServer

from cm2.integrations.verl.config import VerlRolloutConfig, reward_config, rollout_config
from cm2.integrations.verl.policy import ServerTokenPolicy
from cm2.integrations.verl.record import RolloutRecord, record_from_trajectory, turn_end_rewards
from cm2.llm.testing import build_tiny_tokenizer
from cm2.reward import RewardConfig
from cm2.rollout.monitors import MonitorCounts, monitors_from_counts
from cm2.rollout.policy import SamplingConfig
from cm2.rollout.transcript import TokenTranscript
from cm2.schema import Trajectory
from cm2.testing import weather_dialogue


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return build_tiny_tokenizer()


def test_policy_sends_verl_sampling_and_cm2_budget(tokenizer: Any) -> None:
    server = ScriptedServer(tokenizer, [GOOD])
    verl_params = {"temperature": 0.7, "top_p": 0.9, "top_k": -1, "logprobs": True, "max_tokens": 999}
    policy = ServerTokenPolicy(server, tokenizer, verl_params, request_id="r1", stop_token_ids=[5], stop=["END"])
    generation = asyncio.run(policy.continue_tokens([1, 2, 3], SamplingConfig(max_new_tokens=50)))
    call = server.calls[0]
    assert call["request_id"] == "r1" and call["prompt_ids"] == [1, 2, 3]
    assert call["params"] == {
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": -1,
        "logprobs": True,
        "max_tokens": 50,
        "stop_token_ids": [5],
        "stop": ["END"],
    }
    assert generation.text == GOOD[0] and generation.stop_text == "<|im_end|>"
    assert generation.token_ids[-1] == tokenizer.eos_token_id and generation.finish_reason == "stop"
    assert generation.logprobs == [-0.25] * len(generation.token_ids)
    assert policy.calls == 1 and policy.generate_s >= 0


def test_policy_marks_length_stops_and_drops_unasked_logprobs(tokenizer: Any) -> None:
    policy = ServerTokenPolicy(ScriptedServer(tokenizer, [GOOD]), tokenizer, {"logprobs": False})
    generation = asyncio.run(policy.continue_tokens([1], SamplingConfig(max_new_tokens=4)))
    assert len(generation.token_ids) == 4 and generation.finish_reason == "length"
    assert generation.stop_text == "" and generation.logprobs is None
    with pytest.raises(ValueError, match="3 tokens but 2 log-probs"):
        ServerTokenPolicy(None, tokenizer, {"logprobs": True}).to_generation([7, 8, 9], [0.0, 0.0], SamplingConfig())  # type: ignore[arg-type]


def test_generation_round_trips_through_the_transcript(tokenizer: Any) -> None:
    """The sampled stop token is not duplicated when the next environment turn is rendered."""
    dialogue = weather_dialogue()
    transcript = TokenTranscript(tokenizer, dialogue.tools, [dialogue.messages[0], dialogue.messages[1]])
    policy = ServerTokenPolicy(ScriptedServer(tokenizer, [GOOD]), tokenizer, {"logprobs": True})
    generation = asyncio.run(policy.continue_tokens(transcript.context_ids, SamplingConfig(max_new_tokens=64)))
    transcript.add_generation(generation, 0, 0)
    added = transcript.add_environment([dialogue.messages[3]])
    text = tokenizer.decode(transcript.completion_ids, skip_special_tokens=False)
    assert added > 0 and text.count("<|im_end|>") == 2  # one sampled, one closing the tool message


def test_turn_end_rewards_sum_to_the_total_even_for_empty_turns() -> None:
    mask = [1, 1, 0, 0, 1, 1, 1, 0]
    spans = [(0, 0, 0, 2), (1, 0, 4, 7), (2, 0, 8, 8)]  # turn 2: a step that produced no token
    rewards = turn_end_rewards([0.25, 0.5, 0.125], spans, mask)
    assert rewards.tolist() == [0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.625, 0.0]
    assert turn_end_rewards([0.0, 0.5], spans[:2], mask)[1] == 0.0  # a 0 turn leaves its end at 0
    assert turn_end_rewards([0.3], [], [0, 0]).tolist() == [0.0, 0.3]  # nothing trained: the last token
    with pytest.raises(ValueError, match="empty response"):
        turn_end_rewards([], [], [])
    assert np.isclose(turn_end_rewards([0.1, 0.2], spans[:2], mask).sum(), 0.3)


def test_settings_blocks_are_validated() -> None:
    assert reward_config(None).level == "trajectory" and reward_config(None).scale == "one"
    assert reward_config({"cm2": {"level": "step", "scale": "std"}}).level == "step"
    with pytest.raises(ValueError, match=r"algorithm.cm2: invalid reward settings"):
        reward_config({"cm2": {"level": "episode"}})
    assert rollout_config({}) == VerlRolloutConfig()
    block = rollout_config({"cm2": {"episode": {"limits": {"max_turns": 30}}, "tools": "simulated"}})
    assert block.episode.limits.max_turns == 30
    with pytest.raises(ValueError, match=r"cm2: invalid rollout settings"):
        rollout_config({"cm2": {"judge_url": "http://x"}})
    with pytest.raises(ValueError, match=r"unknown tool environment 'gym'; known: .*simulated"):
        rollout_config({"cm2": {"tools": "gym"}})


def test_records_carry_the_monitor_counts_through_json() -> None:
    dialogue = weather_dialogue()
    trajectory = Trajectory(
        dialogue_uuid=dialogue.uuid,
        messages=dialogue.messages[:5],  # the system prompt, then turn 0 as the reference: a call, its answer, a reply
        stop_reason="completed",
        metadata={"reference_turns": 2},
    )
    record = record_from_trajectory(trajectory, dialogue, RewardConfig())
    assert record.monitors == MonitorCounts(turns=1, calls=1, replies=1, reference_turns=2)
    again = RolloutRecord.model_validate_json(record.model_dump_json())
    assert monitors_from_counts([again.monitors or MonitorCounts()]).as_metrics()["cm2/turns_reached_share"] == 0.5
