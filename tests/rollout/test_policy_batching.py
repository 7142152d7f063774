"""The in-process policy batches concurrent episodes by rounds: rows that finish early wait for the running
batch instead of going off alone (benchmarks/rollout_batching.py measures the effect on BFCL episodes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cm2.llm.testing.tiny_model import build_tiny_model
from cm2.rollout.hf_policy import TransformersPolicy
from cm2.rollout.policy import SamplingConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path: Path = build_tiny_model(tmp_path_factory.mktemp("tiny"))
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


async def rounds(policy: TransformersPolicy, episodes: int, steps: int) -> None:
    """`episodes` coroutines, each `steps` generations in a row; caps differ, so rows finish at different times."""

    async def episode(index: int) -> None:
        context = [5, 6, 7, index + 8]
        for step in range(steps):
            cap = 2 + 10 * ((index + step) % 3)
            generation = await policy.continue_tokens(context, SamplingConfig(max_new_tokens=cap))
            context = context + list(generation.token_ids or []) + [9]

    await asyncio.gather(*(episode(i) for i in range(episodes)))


@pytest.mark.parametrize("steps", [1, 3])
def test_each_round_of_concurrent_steps_is_one_generate_call(tiny: tuple[object, object], steps: int) -> None:
    model, tokenizer = tiny
    policy = TransformersPolicy(model, tokenizer, max_batch_size=16, batch_window_s=0.02)
    policy.drive(rounds(policy, episodes=6, steps=steps))
    assert policy.generate_calls == steps


def test_a_full_batch_goes_at_once(tiny: tuple[object, object]) -> None:
    model, tokenizer = tiny
    policy = TransformersPolicy(model, tokenizer, max_batch_size=4, batch_window_s=0.02)
    policy.drive(rounds(policy, episodes=8, steps=1))
    assert policy.generate_calls == 2


def test_batching_state_does_not_outlive_its_event_loop(tiny: tuple[object, object]) -> None:
    """Each `drive` runs its own loop, which may close before a finished batch reports back; the next `drive`
    (the next GRPO step, the probe) must still generate instead of waiting for that report forever."""
    model, tokenizer = tiny
    policy = TransformersPolicy(model, tokenizer, max_batch_size=16, batch_window_s=0.02)
    for _ in range(3):
        policy.drive(asyncio.wait_for(rounds(policy, episodes=4, steps=2), timeout=60))
    assert policy.generate_calls == 6
