"""The `cm2_agent` loop built by hydra from VeRL's registry, as an agent-loop worker builds it, on a scripted
inference server, with the real judge over HTTP and the real hybrid tool simulator; then VeRL's own
TransferQueue post-processing and the `cm2_sync` trainer's advantage step on its outputs."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("verl")

import hydra
import torch
from verl.experimental.agent_loop.agent_loop import (
    DictConfigWrap,
    ToolListWrap,
    _agent_loop_registry,
)
from verl.utils.dataset.rl_dataset import RLHFDataset
from verl_builders import (
    GOOD,
    GUESS,
    MALFORMED,
    SILENT_FIRST,
    FakeTransferQueue,
    ScriptedServer,
    verl_config,
)

import cm2.integrations.verl  # noqa: F401
from cm2.integrations.verl.agent_loop import CM2AgentLoop, CM2AgentLoopOutput
from cm2.integrations.verl.record import RolloutRecord
from cm2.integrations.verl.rows import verl_rows
from cm2.llm.testing import FakeOpenAIServer, build_tiny_tokenizer
from cm2.reward import RewardConfig
from cm2.schema import Trajectory
from cm2.scoring import score_group
from cm2.testing import reply_judge, weather_dialogue
from cm2.train.rollouts import token_advantages


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return build_tiny_tokenizer()


def trainer_config(judge_url: str, trajectories: Path, *, level: str = "trajectory", logprobs: bool = True) -> Any:
    return verl_config(
        {
            "actor_rollout_ref": {
                "rollout": {"prompt_length": 512, "response_length": 1024, "n": 4, "calculate_log_probs": logprobs},
            },
            "algorithm": {"adv_estimator": "cm2_checklist", "cm2": {"level": level, "scale": "one"}},
            "trainer": {"v1": {"trainer_mode": "cm2_sync"}},
            "cm2": {
                "episode": {"sampling": {"max_new_tokens": 64}, "limits": {"max_steps_per_turn": 3}},
                "judge": {
                    "mode": "batched",
                    "llm": {"model": "fake-judge", "base_urls": [judge_url], "api_key_env": None},
                },
                "trajectories_dir": str(trajectories),
            },
        }
    )


def row_kwargs(uid: str, session: int, required: bool = True) -> dict[str, Any]:
    """One dataset row as the agent-loop worker passes it to `run` (prepared by cm2's converter)."""
    row = next(verl_rows([weather_dialogue(required=required)]))
    return {**row, "raw_prompt": row["prompt"], "uid": uid, "session_id": session, "global_steps": 1, "index": 0}


async def run_group(config: Any, tokenizer: Any, server: ScriptedServer, uid: str, n: int) -> list[Any]:
    """Instantiate the loop as `AgentLoopWorker._run_agent_loop` does and run `n` sessions in turn."""
    outputs = []
    for session in range(n):
        loop = hydra.utils.instantiate(
            config=_agent_loop_registry["cm2_agent"],
            trainer_config=DictConfigWrap(config=config),
            server_manager=server,
            tokenizer=tokenizer,
            processor=None,
            hf_model_type=None,
            dataset_cls=RLHFDataset,
            data_config=DictConfigWrap(config.data),
            tools=ToolListWrap([]),
        )
        assert isinstance(loop, CM2AgentLoop)
        sampling = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0}
        sampling["logprobs"] = config.actor_rollout_ref.rollout.calculate_log_probs
        outputs.append(await loop.run(sampling, **row_kwargs(uid, session)))
    return outputs


def read_trajectories(folder: Path) -> list[Trajectory]:
    lines = [line for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines()]
    return [Trajectory.model_validate_json(line) for line in lines]


def test_agent_loop_runs_judged_episodes(tmp_path: Path, tokenizer: Any) -> None:
    server = ScriptedServer(tokenizer, [GOOD, SILENT_FIRST, GUESS, MALFORMED])
    with FakeOpenAIServer(reply_judge) as judge:
        config = trainer_config(judge.base_url, tmp_path / "traj")
        outputs = asyncio.run(run_group(config, tokenizer, server, "u0", 4))
        judge_calls = judge.request_count
    records = [RolloutRecord.model_validate(o.extra_fields["cm2"]) for o in outputs]
    assert [r.stop_reason for r in records] == [
        "completed",
        "completed",
        "required_item_failed",
        "required_item_failed",
    ]
    assert [r.turns_reached for r in records] == [2, 2, 1, 1]
    assert records[0].reward == pytest.approx(1.0)  # (1 + 1) / 2 reference turns
    assert records[1].reward == pytest.approx((0.5 + 1.0) / 2)  # turn 0 reply missing
    assert records[2].reward == 0.0 and records[3].reward == 0.0
    assert records[3].tool_errors == 1  # the malformed call got an error object
    assert judge_calls > 0

    for output, record in zip(outputs, records, strict=True):
        assert isinstance(output, CM2AgentLoopOutput)
        fields = output.as_dict()
        mask, scores = fields["response_mask"], fields["rm_scores"]
        assert fields["responses"].shape == mask.shape == scores.shape == fields["rollout_log_probs"].shape
        assert float(scores.sum()) == pytest.approx(record.reward, abs=1e-6)
        assert output.reward_score == pytest.approx(record.reward)
        # rewards sit on the last trained token of each turn, and only there
        ends = {t: max(end for turn, _, _, end in record.spans if turn == t) - 1 for t in range(record.turns_reached)}
        for t, reward in enumerate(record.reward_by_turn):
            assert mask[ends[t]] == 1 and float(scores[ends[t]]) == pytest.approx(reward, abs=1e-6)
        assert torch.count_nonzero(scores[[i for i in range(len(scores)) if i not in ends.values()]]) == 0
        # generated tokens are trained, tool answers and replayed user turns are not
        for _, _, start, end in record.spans:
            assert mask[start:end].all()
        assert int(mask.sum()) == sum(end - start for _, _, start, end in record.spans)
        assert set(fields["rollout_log_probs"][mask == 1].tolist()) == {-0.25}

    # every call of one episode goes out under one request id, the context growing each step
    first = [c for c in server.calls if c["request_id"] == server.calls[0]["request_id"]]
    assert len(first) == 4 and all(len(a["prompt_ids"]) < len(b["prompt_ids"]) for a, b in itertools.pairwise(first))
    assert all(c["params"]["max_tokens"] <= 64 for c in server.calls)
    trajectories = read_trajectories(tmp_path / "traj")
    assert json.loads(trajectories[0].messages[3].content or "") == {"forecast": "sunny"}  # replayed tool answer
    assert [len(t.verdicts) > 0 for t in trajectories] == [True] * 4


def test_no_logprobs_unless_asked(tmp_path: Path, tokenizer: Any) -> None:
    server = ScriptedServer(tokenizer, [GOOD])
    with FakeOpenAIServer(reply_judge) as judge:
        config = trainer_config(judge.base_url, tmp_path / "t", logprobs=False)
        (output,) = asyncio.run(run_group(config, tokenizer, server, "u0", 1))
    assert output.response_logprobs is None and "rollout_log_probs" not in output.as_dict()


def test_prompt_longer_than_verl_buffer_is_an_error(tmp_path: Path, tokenizer: Any) -> None:
    server = ScriptedServer(tokenizer, [GOOD])
    config = trainer_config("http://127.0.0.1:9/v1", tmp_path / "t")
    config.actor_rollout_ref.rollout.prompt_length = 8
    with pytest.raises(ValueError, match=r"dialogue w2: the first prompt takes \d+ tokens.*prompt_length=8"):
        asyncio.run(run_group(config, tokenizer, server, "u0", 1))


def test_context_limit_never_cuts_trained_tokens(tmp_path: Path, tokenizer: Any) -> None:
    server = ScriptedServer(tokenizer, [GOOD])
    with FakeOpenAIServer(reply_judge) as judge:
        config = trainer_config(judge.base_url, tmp_path / "t")
        config.actor_rollout_ref.rollout.response_length = 40
        (output,) = asyncio.run(run_group(config, tokenizer, server, "u0", 1))
    record = RolloutRecord.model_validate(output.extra_fields["cm2"])
    assert record.stop_reason == "max_tokens"
    assert len(output.response_ids) <= 40 and len(output.response_mask) == len(output.response_ids)
    assert float(output.as_dict()["rm_scores"].sum()) == pytest.approx(record.reward, abs=1e-6)


@pytest.mark.parametrize("level", ["trajectory", "turn", "step"])
def test_verl_postprocess_and_cm2_sync_advantages(
    tmp_path: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch, level: str
) -> None:
    """Outputs go through VeRL's `AgentLoopWorkerTQ._agent_loop_postprocess` into a TransferQueue stand-in;
    `CM2PPOTrainerSync._compute_advantage` (VeRL's code around cm2's estimator) must then give exactly the
    per-token advantages of cm2's embedded trainer (`score_group`, `token_advantages`) on the same trajectories."""
    import transfer_queue as tq
    from transfer_queue import KVBatchMeta
    from verl.trainer.ppo.v1.agent_loop_tq import AgentLoopWorkerTQ

    from cm2.integrations.verl.trainer import CM2PPOTrainerSync

    store = FakeTransferQueue()
    for name in ("async_kv_batch_put", "kv_batch_put", "kv_batch_get"):
        monkeypatch.setattr(tq, name, getattr(store, name))
    server = ScriptedServer(tokenizer, [GOOD, SILENT_FIRST, GUESS, MALFORMED, GOOD, GUESS])
    worker = object.__new__(AgentLoopWorkerTQ.__ray_metadata__.modified_class.__mro__[1])
    worker.reward_loop_worker_handles = None
    worker.distillation_enabled = False
    worker.processor = None
    worker.tokenizer = tokenizer
    keys = []
    with FakeOpenAIServer(reply_judge) as judge:
        config = trainer_config(judge.base_url, tmp_path / "traj", level=level)

        async def rollouts() -> None:
            for uid, n in (("uidA", 4), ("uidB", 2)):
                outputs = await run_group(config, tokenizer, server, uid, n)
                for session, output in enumerate(outputs):
                    kwargs = row_kwargs(uid, session)
                    await worker._agent_loop_postprocess(output, False, **kwargs)
                    keys.append(f"{uid}_{session}_0")

        asyncio.run(rollouts())
    for key in keys:  # what the actor's log-prob pass stores before the advantage step
        row = store.rows[("train", key)]
        row["old_log_probs"] = row["rollout_log_probs"].clone()
    trainer = object.__new__(CM2PPOTrainerSync)
    trainer.config = config
    assert trainer.trainer_mode == "sync"
    metrics: dict[str, Any] = {}
    batch = KVBatchMeta(keys=keys, tags=[{} for _ in keys], partition_id="train")
    trainer._compute_advantage(batch, metrics)

    stored = store.kv_batch_get(keys, "train", ["advantages", "response_mask"])
    trajectories = read_trajectories(tmp_path / "traj")
    dialogue = weather_dialogue()
    settings = RewardConfig(level=level, scale="one")
    expected = []
    for members in (trajectories[:4], trajectories[4:]):
        scores = score_group(dialogue, members, settings, drop_unavailable=True)
        expected += token_advantages(dialogue, members, scores)
    for row, want in enumerate(expected):
        got = stored["advantages"][row]
        assert got.shape[0] == stored["response_mask"][row].shape[0]
        np.testing.assert_allclose(got.numpy()[: len(want)], np.asarray(want, dtype=np.float32), atol=1e-6)
    assert any(np.abs(np.asarray(w)).max() > 0 for w in expected)
    assert metrics["cm2/early_stop_rate"] == pytest.approx(3 / 6)
    assert metrics["cm2/reward/max"] == pytest.approx(1.0)
