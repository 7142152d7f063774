"""Everything cm2 knows about TRL's `GRPOTrainer` (pinned `trl==1.16.*`): the one module a TRL upgrade touches.

cm2 runs and scores the rollouts (`cm2.train.seam`); TRL keeps the loss, optimizer, reference model and
distributed machinery. Public TRL surface used here:
- `GRPOTrainer(rollout_func=, reward_funcs=)`; `rollout_func(prompts, trainer)` returns `prompt_ids`,
  `completion_ids`, `logprobs`, `env_mask` (TRL's tool mask: the loss covers model tokens only) and extra
  keys, which TRL forwards to the reward functions;
- the reward functions' `log_metric(name, value)` keyword, which logs cm2's batch metrics beside TRL's own;
- `trl.models.utils.unwrap_model_for_generation` (`generation_model`), entered once per batch (and by the probe).

Private TRL surface, because TRL has no public hook for either (its maintainers point subclasses at this
override: huggingface/trl#4525; `rollout_func` is marked experimental):
- `GRPOTrainer._generate_and_score_completions(self, inputs) -> dict`, overridden to
  1. hand the batch's dataset rows to the rollout (TRL gives `rollout_func` the prompts only), and
  2. replace `output["advantages"]` (TRL's (B,) group-normalized rewards) with cm2's per-token (B, T)
     advantages at the trajectory, turn or step level, T = `output["completion_ids"].size(1)`;
- the loss accepting (B, T) advantages: `GRPOTrainer._compute_loss` unsqueezes only 1-D ones (trl 1.16,
  grpo_trainer.py), and `split_tensor_dict`/`shuffle_sequence_dict` keep dim 0 aligned.
- `GRPOTrainer._get_per_token_logps_and_entropies` and `GRPOTrainer._metrics`, for the log-prob check
  (`logprob_gap`): TRL scores sampled tokens with this method itself when its sampler is vLLM. With
  `shared_prompt_scoring` the method is overridden too: rows that share a prompt run it once
  (`cm2.train.shared_prompt`), with the same log-probs and entropies; and `GRPOTrainer._prepare_inputs` looks up
  `shuffle_sequence_dict` in `trl.trainer.grpo_trainer` when it cuts a step's rows into micro-batches, where
  cm2 puts a shuffle by whole groups, so that each micro-batch holds whole groups.
`tests/train/test_trl_adapter.py` checks these names and shapes against the installed TRL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from cm2.train.seam import RolloutRequest, RolloutSource, ScoredBatch

log = logging.getLogger(__name__)


def rollout_fields(batch: ScoredBatch, eos_token_id: int) -> dict[str, Any]:
    """`batch` as TRL's `rollout_func` output: tokens, log-probs, loss mask, and cm2's reward and metrics
    for `checklist_reward`. An empty completion gets one untrained end-of-sequence token (TRL pads and
    decodes every completion)."""
    tokens = batch.tokens()
    metrics = batch.metrics()
    return {
        "prompt_ids": [t.prompt_ids for t in tokens],
        "completion_ids": [t.completion_ids or [eos_token_id] for t in tokens],
        "logprobs": [t.logprobs or [0.0] for t in tokens],
        "env_mask": [t.loss_mask or [0] for t in tokens],
        "cm2_reward": list(batch.rewards),
        "cm2_metrics": [metrics] * len(tokens),
    }


def checklist_reward(
    prompts: list[Any],
    completions: list[Any],
    cm2_reward: list[float],
    cm2_metrics: list[dict[str, float]] | None = None,
    log_metric: Callable[[str, float], None] | None = None,
    **_: Any,
) -> list[float | None]:
    """TRL reward function: the trajectory rewards the rollout computed (TRL logs them as `reward`; cm2's
    advantages replace TRL's), and the batch's metrics through TRL's `log_metric`."""
    if log_metric is not None and cm2_metrics:
        for name, value in cm2_metrics[0].items():
            log_metric(name, value)
    return list(cm2_reward)


def advantage_tensor(batch: ScoredBatch, width: int, device: Any = None) -> Any:
    """The batch's per-token advantages as a (B, width) float tensor: cut at `width`, zero-padded to it."""
    import torch

    advantages = torch.zeros((len(batch.token_advantages), width), dtype=torch.float32)
    for row, values in enumerate(batch.token_advantages):
        advantages[row, : min(width, len(values))] = torch.tensor(values[:width], dtype=torch.float32)
    return advantages.to(device) if device is not None else advantages


def logprob_gap(trainer: Any, output: dict[str, Any]) -> dict[str, float]:
    """How far the rollout's log-probs of its trained tokens are from the trainer's own forward pass over the
    same tokens, before the step: mean and largest absolute difference. Near zero when the sampler is the
    policy being trained; large when it is not (stale weights, a precision or compilation difference, a prompt
    rendered differently from the tokens trained on), which on-policy GRPO (`num_iterations: 1`) never corrects."""
    import torch

    if output.get("sampling_per_token_logps") is None:  # a sampler that gave no log-probs: nothing to compare
        return {}
    completion = output["completion_ids"]
    ids = torch.cat([output["prompt_ids"], completion], dim=1)
    mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
    with torch.no_grad():
        trained, _, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model, ids, mask, completion.size(1), batch_size=trainer.args.per_device_train_batch_size
        )
    scored = output["completion_mask"] * output.get("tool_mask", torch.ones_like(completion))
    gaps = (trained.float() - output["sampling_per_token_logps"].float()).abs()[scored.bool()]
    if gaps.numel() == 0:
        return {}
    return {"cm2/logprob_gap_mean": float(gaps.mean()), "cm2/logprob_gap_max": float(gaps.max())}


def generation_model(trainer: Any) -> AbstractContextManager[Any]:
    """The trainer's policy model entered for generation (TRL gathers ZeRO-3/FSDP parameters here)."""
    from trl.models.utils import unwrap_model_for_generation

    return unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator)


def make_trainer_class() -> type:
    """Build the GRPOTrainer subclass lazily, so importing cm2 does not import TRL."""
    from trl import GRPOTrainer

    class CM2GRPOTrainer(GRPOTrainer):
        """GRPOTrainer whose rollouts and per-token advantages are cm2's (`cm2_rollouts`)."""

        def __init__(
            self,
            *args: Any,
            cm2_rollouts: RolloutSource,
            cm2_logprob_check_every: int = 0,
            cm2_shared_prompt: bool = False,
            **kwargs: Any,
        ):
            self.cm2_rollouts = cm2_rollouts
            self.cm2_logprob_check_every = cm2_logprob_check_every
            self.cm2_shared_prompt = cm2_shared_prompt
            self.cm2_rows: list[dict[str, Any]] = []
            self.cm2_batch: ScoredBatch | None = None
            kwargs.update(rollout_func=self.cm2_rollout, reward_funcs=[checklist_reward])
            super().__init__(*args, **kwargs)

        def cm2_rollout(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
            """TRL's `rollout_func`: the stashed rows as a `RolloutRequest` to cm2."""
            if len(self.cm2_rows) != len(prompts):
                raise RuntimeError(f"rollout got {len(prompts)} prompts but {len(self.cm2_rows)} stashed rows")
            tokenizer: Any = self.processing_class
            request = RolloutRequest(
                rows=self.cm2_rows,
                policy_model=lambda: generation_model(self),
                tokenizer=tokenizer,
                step=int(self.state.global_step) + 1,  # these rollouts feed the next optimizer step
            )
            self.cm2_batch = self.cm2_rollouts(request)
            return rollout_fields(self.cm2_batch, tokenizer.eos_token_id)

        def _get_per_token_logps_and_entropies(
            self,
            model: Any,
            input_ids: Any,
            attention_mask: Any,
            logits_to_keep: int,
            batch_size: int | None = None,
            compute_entropy: bool = False,
            compute_aux_loss: bool = False,
            **extra: Any,
        ) -> tuple[Any, Any, Any]:
            # Private TRL method (see the module's docstring): rows that share a prompt run it once
            # (`shared_prompt_scoring`), where nothing else (images, MoE losses, several processes) is asked for.
            from cm2.train.shared_prompt import shared_prompt_logps, supports_shared_prompt

            plain = not compute_aux_loss and all(value is None for value in extra.values())
            if (
                self.cm2_shared_prompt
                and plain
                and self.accelerator.num_processes == 1
                and supports_shared_prompt(model)
            ):
                try:
                    logps, entropies = shared_prompt_logps(
                        model,
                        input_ids,
                        attention_mask,
                        logits_to_keep,
                        temperature=self.temperature,
                        compute_entropy=compute_entropy,
                        autocast=self.accelerator.autocast,
                    )
                    return logps, entropies, None
                except Exception as error:  # a speed-up must not end a run that TRL's path can carry on
                    self.cm2_shared_prompt = False
                    log.warning("shared-prompt scoring failed (%r); TRL scores every row whole from now on", error)
                    self._metrics["train"]["cm2/shared_prompt_failed"].append(1.0)
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss, **extra
            )

        def _prepare_inputs(self, generation_batch: Any) -> Any:
            # Private TRL names (see the module's docstring): with shared-prompt scoring, the rows of a step are
            # shuffled by whole groups before TRL cuts them into micro-batches, so each micro-batch is groups
            # whose rows share their prompt
            if not self.cm2_shared_prompt:
                return super()._prepare_inputs(generation_batch)
            import functools

            import trl.trainer.grpo_trainer as grpo_module

            from cm2.train.shared_prompt import shuffle_groups

            rows_shuffle = grpo_module.shuffle_sequence_dict
            group = int(self.num_generations)  # type: ignore[arg-type]  # TRL sets it from num_generations
            grpo_module.shuffle_sequence_dict = functools.partial(shuffle_groups, group_size=group)
            try:
                return super()._prepare_inputs(generation_batch)
            finally:
                grpo_module.shuffle_sequence_dict = rows_shuffle

        def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
            # Private TRL method (see the module's docstring): rows in for the rollout, cm2's advantages out.
            self.cm2_rows = inputs
            self.cm2_batch = None
            started = time.perf_counter()
            output: dict[str, Any] = super()._generate_and_score_completions(inputs)
            if self.cm2_batch is None:
                raise RuntimeError("TRL scored a batch without calling cm2's rollout_func")
            mode = "train" if self.model.training else "eval"
            # TRL's own share of the batch beside cm2's rollout: padding, the reference model's log-probs for the
            # KL term; the rest of `step_time` is the loss's forward and backward and the optimizer
            spent = time.perf_counter() - started - self.cm2_batch.rollout_seconds
            self._metrics[mode]["cm2/time/trl_batch_s"].append(spent)
            completion_ids = output["completion_ids"]
            output["advantages"] = advantage_tensor(self.cm2_batch, completion_ids.size(1), completion_ids.device)
            every = self.cm2_logprob_check_every
            if every and int(self.state.global_step) % every == 0:  # this batch feeds step global_step + 1
                for name, value in logprob_gap(self, output).items():
                    self._metrics[mode][name].append(value)
            return output

    return CM2GRPOTrainer
