"""Contract tests: a 2-step GRPO run on CPU with a tiny random model, at each reward level."""

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from rl_builders import tiny_rl_config

import cm2.train.grpo as grpo
import cm2.train.trl_adapter as trl_adapter
from cm2.judge import StepToJudge
from cm2.llm.testing.tiny_model import build_tiny_model
from cm2.schema import Trajectory, Verdict
from cm2.testing import RuleJudge, even_length
from cm2.tools import HybridToolSimulator
from cm2.train.grpo import run_rl
from cm2.train.rl_config import RLRunConfig


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.mark.parametrize("level", ["trajectory", "turn", "step"])
def test_two_grpo_steps_per_level(tmp_path: Path, tiny_model: Path, level: str) -> None:
    config = tiny_rl_config(
        tmp_path,
        tiny_model,
        max_steps=2,
        save_steps=1,
        learning_rate=1e-2,
        reward={"level": level, "scale": "one"},
        episode={"early_stop": False},
    )
    final = run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    assert (final / "config.json").exists()
    log = json.loads((tmp_path / "out" / "train_log.json").read_text())
    steps = [entry for entry in log if "loss" in entry]
    assert len(steps) == 2
    assert any(entry["grad_norm"] > 0 for entry in steps), "advantages never reached the loss"
    # the reward-hacking monitors are logged every step
    monitors = ("cm2/calls_per_turn", "cm2/step_limit_share", "cm2/final_reply_share", "cm2/turns_reached")
    assert all(name in entry for entry in steps for name in monitors), steps
    lines = (tmp_path / "out" / "trajectories.jsonl").read_text().splitlines()
    trajectories = [Trajectory.model_validate_json(line) for line in lines]
    assert len(trajectories) == 8
    assert all(t.tokens is not None and t.rewards for t in trajectories)
    assert (tmp_path / "out" / "checkpoint-2").exists()
    assert {t.metadata["train_step"] for t in trajectories} == {1, 2}  # the steps of the trainer's log
    if level == "trajectory":  # resume from checkpoint-2 and train one more step
        resumed = config.model_copy(update={"max_steps": 3, "resume": True})
        run_rl(resumed, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
        log = json.loads((tmp_path / "out" / "train_log.json").read_text())
        assert [entry["step"] for entry in log if "loss" in entry][-1] == 3
        lines = (tmp_path / "out" / "trajectories.jsonl").read_text().splitlines()
        assert len(lines) == 12


@pytest.mark.parametrize("name", ["rl_tiny.yaml", "rl_gemma270m.yaml"])
def test_shipped_rl_configs_load(name: str) -> None:
    config = RLRunConfig.from_yaml(Path(__file__).resolve().parents[2] / "configs" / name)
    assert config.reward.scale == "one" and config.kl_coef == 0.001


def test_the_time_budget_stops_training_after_the_step_that_spends_it() -> None:
    from types import SimpleNamespace

    from cm2.train.grpo import time_budget

    control = SimpleNamespace(should_training_stop=False, should_save=False)
    roomy, spent = time_budget(60.0), time_budget(0.0)
    for callback in (roomy, spent):
        callback.on_train_begin(None, None, control)
    roomy.on_step_end(None, None, control)
    assert control.should_training_stop is False and control.should_save is False
    spent.on_step_end(None, None, control)
    assert control.should_training_stop is True
    assert control.should_save is True  # a checkpoint of that step: the next piece resumes exactly there


MAKE_TRAINER_CLASS = grpo.make_trainer_class


def recording_trainer_class(gaps: list[float], base_gaps: list[float] | None = None) -> Any:
    """cm2's trainer that, after each rollout, scores the batch with TRL's own log-prob path (the fused
    LM head at the trainer's temperature) and records the largest gap to the rollout's log-probs.
    It also checks that the advantages TRL's loss gets are cm2's, per token. With `base_gaps` (LoRA), it
    records too the mean gap to the same scoring with the adapter switched off."""
    import torch

    base = MAKE_TRAINER_CLASS()

    class Recording(base):  # type: ignore[misc, valid-type]
        def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
            output: dict[str, Any] = super()._generate_and_score_completions(inputs)
            advantages, width = output["advantages"], output["completion_ids"].size(1)
            assert advantages.shape == (len(inputs), width)
            expected = [(a + [0.0] * width)[:width] for a in self.cm2_batch.token_advantages]
            assert torch.allclose(advantages.cpu(), torch.tensor(expected, dtype=torch.float32))
            ids = torch.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
            mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
            with torch.no_grad():
                trained, _, _ = self._get_per_token_logps_and_entropies(
                    self.model, ids, mask, output["completion_ids"].size(1)
                )
            scored = (output["completion_mask"] * output["tool_mask"]).bool()
            assert scored.sum() > 0
            gap = (trained - output["sampling_per_token_logps"]).abs()[scored].max()
            gaps.append(float(gap))
            if base_gaps is not None:
                with torch.no_grad(), self.model.disable_adapter():
                    base, _, _ = self._get_per_token_logps_and_entropies(
                        self.model, ids, mask, output["completion_ids"].size(1)
                    )
                base_gaps.append(float((base - output["sampling_per_token_logps"]).abs()[scored].mean()))
            return output

    return Recording


def step_gain_trainer_class(gains: list[tuple[float, float]]) -> Any:
    """cm2's trainer that keeps each batch and, when the next one is asked for (the optimizer has stepped on
    the kept one by then), records the advantage-weighted log-prob of the kept batch's trained tokens before
    and after that step."""
    import torch

    base = MAKE_TRAINER_CLASS()

    class StepGain(base):  # type: ignore[misc, valid-type]
        kept: dict[str, Any] | None = None

        def weighted_logprob(self, batch: dict[str, Any]) -> float:
            ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
            mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
            with torch.no_grad():
                logps, _, _ = self._get_per_token_logps_and_entropies(
                    self.model, ids, mask, batch["completion_ids"].size(1)
                )
            scored = batch["completion_mask"] * batch["tool_mask"]
            return float((batch["cm2_advantages"] * logps * scored).sum())

        def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
            if self.kept is not None:
                gains.append((self.kept["before"], self.weighted_logprob(self.kept)))
            output: dict[str, Any] = super()._generate_and_score_completions(inputs)
            kept = {k: v.detach().clone() for k, v in output.items() if isinstance(v, torch.Tensor)}
            width = kept["completion_ids"].size(1)  # cm2's own advantages, not the tensor handed to TRL
            rows = [(a + [0.0] * width)[:width] for a in self.cm2_batch.token_advantages]
            kept["cm2_advantages"] = torch.tensor(rows, dtype=torch.float32)
            assert kept["cm2_advantages"].abs().sum() > 0, "no advantage to follow"
            self.kept = kept | {"before": self.weighted_logprob(kept)}
            return output

    return StepGain


@pytest.mark.parametrize("level", ["trajectory", "step"])
def test_an_optimizer_step_moves_log_probs_the_way_the_advantages_point(
    tmp_path: Path, tiny_model: Path, level: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sign and alignment of cm2's advantages inside TRL's loss: after one small step on a batch, its
    tokens with positive advantages are likelier and those with negative ones less likely, in sum."""
    config = tiny_rl_config(
        tmp_path,
        tiny_model,
        max_steps=2,
        learning_rate=1e-4,
        reward={"level": level, "scale": "one"},
        episode={"sampling": {"max_new_tokens": 8, "temperature": 1.0}, "early_stop": False},
    )
    gains: list[tuple[float, float]] = []
    monkeypatch.setattr(grpo, "make_trainer_class", lambda: step_gain_trainer_class(gains))
    run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    assert len(gains) == 1, gains
    before, after = gains[0]
    assert after > before, gains


@pytest.mark.parametrize("sampler", ["policy", "stale"])
def test_the_logprob_check_logs_how_far_the_sampler_is_from_the_trained_policy(
    tmp_path: Path, tiny_model: Path, sampler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every `logprob_check_every` steps the log holds the gap between the rollout's log-probs and the trainer's
    forward pass over the same tokens. Two large full-parameter steps come before step 3's check: a decoder that
    samples from the trained policy (through the static cache, the GPU's path) stays within float rounding, and
    one still sampling from the first weights (`stale`: the model as loaded from disk) shows a clear gap."""
    config = tiny_rl_config(
        tmp_path,
        tiny_model,
        max_steps=3,
        learning_rate=1e-2,
        logprob_check_every=2,
        decoder={"engine": "loop", "cache": "static", "max_cache_len": 1024},
        episode={"sampling": {"max_new_tokens": 8, "temperature": 1.0}, "early_stop": False},
    )
    if sampler == "stale":
        from transformers import AutoModelForCausalLM

        first = AutoModelForCausalLM.from_pretrained(str(tiny_model)).eval()
        monkeypatch.setattr(trl_adapter, "generation_model", lambda trainer: contextlib.nullcontext(first))
    run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    log = [e for e in json.loads((tmp_path / "out" / "train_log.json").read_text()) if "loss" in e]
    gaps = {
        e["step"]: (e["cm2/logprob_gap_mean"], e["cm2/logprob_gap_max"]) for e in log if "cm2/logprob_gap_mean" in e
    }
    assert sorted(gaps) == [1, 3], [sorted(e) for e in log]
    assert gaps[1][1] < 1e-4  # the first batch: both are the weights loaded
    if sampler == "policy":
        assert gaps[3][1] < 1e-4, gaps
    else:
        assert gaps[3][0] > 0.01, gaps
    assert all(largest >= mean for mean, largest in gaps.values())


@pytest.mark.parametrize(("engine", "shared"), [("loop", False), ("generate", False), ("loop", True)])
def test_training_logprobs_equal_rollout_logprobs_at_temperature_07(
    tmp_path: Path, tiny_model: Path, engine: str, shared: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `shared_prompt_scoring`, the trainer scores each group's rows with their prompt run once."""
    config = tiny_rl_config(
        tmp_path,
        tiny_model,
        decoder={"engine": engine},
        episode={"sampling": {"max_new_tokens": 8, "temperature": 0.7, "top_p": 0.9}, "early_stop": False},
        shared_prompt_scoring=shared,
        gradient_checkpointing=not shared,
    )
    assert grpo.grpo_args(config).temperature == 0.7 and grpo.grpo_args(config).top_p == 0.9
    gaps: list[float] = []
    monkeypatch.setattr(grpo, "make_trainer_class", lambda: recording_trainer_class(gaps))
    import torch

    import cm2.train.shared_prompt as shared_prompt

    scored: list[bool] = []
    original = shared_prompt.shared_prompt_logps
    monkeypatch.setattr(
        shared_prompt,
        "shared_prompt_logps",
        lambda *a, **k: scored.append(torch.is_grad_enabled()) or original(*a, **k),
    )
    run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    assert gaps and max(gaps) < 1e-4, gaps
    assert (True in scored and False in scored) if shared else not scored  # the loss's pass and the checks'


def test_lora_rollouts_sample_from_the_adapter_with_the_log_probs_training_sees(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LoRA through cm2's decode loop with the static cache (the GPU path): the policy generates through the
    peft model with the adapter on, so after a large first step the rollouts of step 2 are scored as sampled
    by the adapted model and clearly not as by the base model."""
    config = tiny_rl_config(
        tmp_path,
        tiny_model,
        max_steps=2,
        learning_rate=5e-2,
        lora={"r": 4, "alpha": 8, "dropout": 0.0},
        decoder={"engine": "loop", "cache": "static", "max_cache_len": 1024},
        episode={"sampling": {"max_new_tokens": 8, "temperature": 0.7, "top_p": 0.9}, "early_stop": False},
    )
    gaps: list[float] = []
    base_gaps: list[float] = []
    monkeypatch.setattr(grpo, "make_trainer_class", lambda: recording_trainer_class(gaps, base_gaps))
    final = run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    assert len(gaps) == 2 and max(gaps) < 1e-4, gaps
    assert base_gaps[0] < 1e-4  # a fresh adapter is zero: the base model
    assert base_gaps[1] > 1e-3, base_gaps  # after one step the rollouts come from the adapted model
    # the final model has the adapter merged in: a plain checkpoint the evaluation loads as it is
    assert (final / "config.json").exists() and not (final / "adapter_config.json").exists()


class FlatForD0Judge(RuleJudge):
    """Never satisfied on dialogue d0 (its groups are flat), even length elsewhere."""

    def __init__(self) -> None:
        super().__init__(even_length)

    async def judge_step(self, asked: StepToJudge, usage: object = None) -> list[Verdict]:
        verdicts = await super().judge_step(asked, usage)
        if asked.dialogue.uuid.startswith("d0"):
            return [v.model_copy(update={"satisfied": False}) for v in verdicts]
        return verdicts


@pytest.mark.parametrize("action", ["keep", "resample"])
def test_flat_groups_are_counted_and_resampled(tmp_path: Path, tiny_model: Path, action: str) -> None:
    config = tiny_rl_config(
        tmp_path,
        tiny_model,
        dialogues=2,
        dialogues_per_step=2,
        max_steps=2,
        tasks="turn",
        zero_spread={"action": action, "rounds": 2},
        probe={"every_steps": 0},
        episode={"early_stop": False},
    )
    run_rl(config, make_env=HybridToolSimulator, judge=FlatForD0Judge())
    log = [e for e in json.loads((tmp_path / "out" / "train_log.json").read_text()) if "loss" in e]
    assert len(log) == 2
    trajectories = [json.loads(line) for line in (tmp_path / "out" / "trajectories.jsonl").read_text().splitlines()]
    assert {t["dialogue_uuid"].split("@turn")[0] for t in trajectories} <= {"d0", "d1"}
    assert all("@turn" in t["dialogue_uuid"] for t in trajectories)
    assert sum(e["cm2/flat_groups"] for e in log) >= 1  # d0 is flat whenever drawn (often: 2 of 4 tasks)
    for entry in log:
        assert entry["cm2/flat_groups_left"] <= entry["cm2/flat_groups"]
        if action == "keep":
            assert entry["cm2/resampled_groups"] == 0
        else:
            assert entry["cm2/resampled_groups"] >= entry["cm2/flat_groups"]


@pytest.mark.parametrize("checkpointing", [True, False])
def test_activation_checkpointing_is_a_setting_and_training_runs_either_way(
    tmp_path: Path, tiny_model: Path, checkpointing: bool
) -> None:
    """TRL turns it on by default; a small policy trains faster without it (one forward pass fewer a micro-batch)."""
    config = tiny_rl_config(tmp_path, tiny_model).model_copy(update={"gradient_checkpointing": checkpointing})
    args = grpo.grpo_args(config)
    spelled = "activation_checkpointing" if hasattr(args, "activation_checkpointing") else "gradient_checkpointing"
    assert getattr(args, spelled) is checkpointing and args.warmup_steps == config.warmup_ratio  # transformers 5.17
    final = run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    assert (final / "config.json").exists()


def test_shared_prompt_scoring_asks_for_activation_checkpointing_off(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(ValueError, match="gradient_checkpointing: false"):
        tiny_rl_config(tmp_path, tiny_model, shared_prompt_scoring=True)


def test_a_failing_shared_prompt_scoring_hands_over_to_trl_and_says_so(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import cm2.train.shared_prompt as shared_prompt

    calls: list[int] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise RuntimeError("no cache here")

    monkeypatch.setattr(shared_prompt, "shared_prompt_logps", broken)
    config = tiny_rl_config(tmp_path, tiny_model, shared_prompt_scoring=True, gradient_checkpointing=False, max_steps=2)
    with caplog.at_level("WARNING", logger="cm2.train.trl_adapter"):
        final = run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    assert (final / "config.json").exists() and calls == [1]  # tried once, then TRL's path for the rest of the run
    assert "shared-prompt scoring failed" in caplog.text
    log = json.loads((tmp_path / "out" / "train_log.json").read_text())
    assert any(entry.get("cm2/shared_prompt_failed") == 1.0 for entry in log)


def test_with_shared_prompt_scoring_each_micro_batch_holds_whole_groups(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TRL shuffles a step's rows before cutting them into micro-batches of one group's size; with shared-prompt
    scoring the shuffle keeps groups whole, so the loss's every micro-batch is one prompt run once."""
    import torch

    import cm2.train.shared_prompt as shared_prompt

    config = tiny_rl_config(
        tmp_path,
        tiny_model,
        tasks="turn",  # the dialogue's two turns: two prompts a step
        dialogues_per_step=2,
        max_steps=2,
        shared_prompt_scoring=True,
        gradient_checkpointing=False,
    )
    runs: list[tuple[bool, int, list[tuple[int, int]]]] = []
    original = shared_prompt.prompt_runs

    def recording(prompt_ids: Any, prompt_mask: Any) -> list[tuple[int, int]]:
        found = original(prompt_ids, prompt_mask)
        runs.append((torch.is_grad_enabled(), prompt_ids.size(0), found))
        return found

    monkeypatch.setattr(shared_prompt, "prompt_runs", recording)
    run_rl(config, make_env=HybridToolSimulator, judge=RuleJudge(even_length))
    losses = [(rows, found) for grad, rows, found in runs if grad]
    assert len(losses) == 2 * 2  # two micro-batches a step
    assert all(rows == config.group_size and found == [(0, rows)] for rows, found in losses), losses
    assert any(len(found) == 2 for grad, rows, found in runs if not grad)  # the whole step: two prompts
