"""GRPO with checklist rewards on TRL: `run_rl`, its `GRPOConfig` and its callbacks.

The trainer itself (the only code that reaches into TRL's private methods) is in `cm2.train.trl_adapter`; the
time budget, slim checkpoints and resuming are in `cm2.train.resume`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cm2.data import JsonlAppender, read_dialogues
from cm2.llm.redact import redact_tree
from cm2.rollout.episode import StepJudge
from cm2.schema import Dialogue, Trajectory
from cm2.tools import ToolEnvironment
from cm2.train.resume import (
    checkpoint_drops,
    checkpoint_step,
    latest_checkpoint,
    resume_at,
    slim_checkpoints,
    time_budget,
)
from cm2.train.rl_config import RLRunConfig
from cm2.train.rollouts import CM2Rollouts
from cm2.train.trl_adapter import make_trainer_class


def log_writer(path: Path) -> Any:
    """A trainer callback that rewrites `path` (the log history as JSON) atomically at every log,
    so a crashed run keeps its metrics."""
    from transformers import TrainerCallback

    from cm2.data.atomic import atomic_file

    class WriteLog(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                with atomic_file(path) as tmp:
                    tmp.write_text(json.dumps(state.log_history, indent=1), encoding="utf-8")

    return WriteLog()


def trajectories_path(out: Path, name: str, process_index: int) -> Path:
    """Rank 0 writes `name`; other ranks write `name` with `.rankN` before the suffix."""
    if process_index == 0:
        return out / name
    path = Path(name)
    return out / f"{path.stem}.rank{process_index}{path.suffix}"


def grpo_args(config: RLRunConfig) -> Any:
    """The `GRPOConfig` for `config`: one group per micro-batch, `dialogues_per_step` groups per step."""
    from trl import GRPOConfig

    from cm2.train.models import cpu_training, renamed_training_fields

    sampling = config.episode.sampling
    renamed = renamed_training_fields(
        GRPOConfig, checkpointing=config.gradient_checkpointing, warmup=config.warmup_ratio
    )
    return GRPOConfig(
        **renamed,
        output_dir=config.output_dir,
        per_device_train_batch_size=config.group_size,
        num_generations=config.group_size,
        gradient_accumulation_steps=config.dialogues_per_step * config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        beta=config.kl_coef,
        loss_type=config.loss_type,
        scale_rewards="none",
        num_iterations=config.num_iterations,
        max_completion_length=config.episode.limits.max_context_tokens,
        # The loss scores tokens at the temperature they were sampled at (greedy rollouts were scored at 1).
        temperature=sampling.temperature if sampling.temperature > 0 else 1.0,
        top_p=sampling.top_p,
        max_steps=config.max_steps,
        use_cpu=cpu_training(config.use_cpu),
        bf16=config.bf16,
        seed=config.seed,
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps,
        report_to=config.report_to,
        remove_unused_columns=False,
    )


def load_rl_dialogues(path: str) -> dict[str, Dialogue]:
    """Dialogues that carry at least one checklist, by uuid; problems are errors with locations."""
    errors: list[tuple[str, str]] = []
    dialogues = {d.uuid: d for d in read_dialogues(path, errors=errors) if d.checklists}
    if errors:
        shown = "; ".join(f"{where}: {message}" for where, message in errors[:3])
        raise ValueError(f"{path}: {len(errors)} unusable record(s), first {shown}")
    if not dialogues:
        raise ValueError(f"{path}: no dialogue with a checklist; label the data first (cm2 label)")
    return dialogues


def rl_dataset(dialogues: dict[str, Dialogue], min_rows: int = 1) -> Any:
    """One row per (dialogue, checklist): the first user message as TRL's prompt, plus cm2's keys.

    Rows repeat until there are `min_rows`, since a dataset smaller than one batch yields no batch.
    """
    from datasets import Dataset

    rows = []
    for dialogue in dialogues.values():
        first_user = next(m for m in dialogue.messages if m.role == "user")
        for k in range(len(dialogue.checklists)):
            rows.append(
                {
                    "prompt": [{"role": "user", "content": first_user.content or ""}],
                    "cm2_uuid": dialogue.uuid,
                    "cm2_checklist": k,
                }
            )
    while rows and len(rows) < min_rows:
        rows += rows[: min_rows - len(rows)]
    return Dataset.from_list(rows)


def rl_tasks(config: RLRunConfig, path: str) -> dict[str, Dialogue]:
    """The labelled dialogues of `path` as the run's tasks (one per turn with `tasks: turn`), by uuid."""
    dialogues = load_rl_dialogues(path)
    if config.tasks == "turn":
        from cm2.data.turn_tasks import expand_turn_tasks

        dialogues = expand_turn_tasks(dialogues)
    return dialogues


def probe_dialogues(config: RLRunConfig, train: dict[str, Dialogue]) -> dict[str, Dialogue]:
    """What the probe plays: the train tasks, or `probe.data`'s dialogues whole (every turn on the policy's own
    history, as a held-out evaluation plays them, whatever `tasks` says), none of which may be trained on."""
    if config.probe.data is None:
        return train
    from cm2.data.turn_tasks import source_uuid

    dialogues = load_rl_dialogues(config.probe.data)
    trained = {source_uuid(uuid) for uuid in train}
    shared = sorted(set(dialogues) & trained)
    if shared:
        raise ValueError(f"probe.data {config.probe.data}: {len(shared)} dialogue(s) also in data, first {shared[0]}")
    return dialogues


def run_rl(
    config: RLRunConfig,
    *,
    make_env: Callable[[Dialogue], ToolEnvironment],
    judge: StepJudge | None,
    model: Any = None,
    tokenizer: Any = None,
) -> Path:
    """Train with GRPO on checklist rewards; returns the folder of the final model."""
    from cm2.train.models import load_policy

    dialogues = rl_tasks(config, config.data)
    probed = probe_dialogues(config, dialogues) if config.probe.every_steps > 0 else {}  # its errors come first
    if model is None or tokenizer is None:
        model, tokenizer = load_policy(config.model)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    public = redact_tree(config.model_dump(mode="json"))  # judge/simulator URLs without credentials
    (out / "rl_config.json").write_text(json.dumps(public, indent=2, ensure_ascii=False), encoding="utf-8")
    args = grpo_args(config)
    sink_path = trajectories_path(out, config.trajectories_file, args.process_index)
    resume_from = latest_checkpoint(out) if config.resume else None
    if resume_from is not None:
        resume_at(out, sink_path, checkpoint_step(resume_from))
    with JsonlAppender(sink_path, fsync_every=0) as sink:

        def keep(trajectory: Trajectory) -> None:
            sink.write(trajectory.dump())

        rollouts = CM2Rollouts(
            dialogues,
            make_env,
            judge,
            config.episode,
            config.reward,
            config.group_size,
            concurrency=config.episode_concurrency,
            on_trajectory=keep,
            unavailable=config.unavailable,
            decoder=config.decoder,
            zero_spread=config.zero_spread,
            seed=config.seed,
        )
        drops = checkpoint_drops(tokenizer, lora=config.lora is not None)
        callbacks = [log_writer(out / "train_log.json"), slim_checkpoints(out, drops)]
        if config.max_minutes is not None:
            callbacks.append(time_budget(config.max_minutes))
        probe = None
        if config.probe.every_steps > 0:
            from cm2.train.probe import probe_callback, probe_set

            chosen = probe_set(probed, config.probe.dialogues)
            probe = probe_callback(
                config.probe,
                chosen,
                make_env,
                judge,
                config.episode,
                config.reward,
                out,
                make_policy=rollouts.policy_for,
                lora=config.lora is not None,
            )
            callbacks.insert(0, probe)  # before the log writer, which then saves the probe's numbers too
        trainer_class = make_trainer_class()
        peft_config = None
        if config.lora is not None:
            from peft import LoraConfig

            lora = config.lora
            peft_config = LoraConfig(
                r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules
            )
        trainer = trainer_class(
            model=model,
            args=args,
            train_dataset=rl_dataset(dialogues, min_rows=config.dialogues_per_step),
            processing_class=tokenizer,
            peft_config=peft_config,
            cm2_rollouts=rollouts,
            cm2_logprob_check_every=config.logprob_check_every,
            cm2_shared_prompt=config.shared_prompt_scoring,
            callbacks=callbacks,
        )
        if probe is not None:
            probe.trainer = trainer
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
        return final_model(trainer, config, out)


def final_model(trainer: Any, config: RLRunConfig, out: Path) -> Path:
    """`out/final`: the last policy, or with `probe.keep_best` the best probed one (`cm2.train.best`); when that
    is an earlier step, the last policy goes to `out/last` as well, so both can be evaluated."""
    from cm2.train.best import BEST_DIR, LAST_DIR, copy_best, merge_saved_adapter, read_best

    final, last = out / "final", out / LAST_DIR
    best = read_best(out) if config.probe.keep_best else None
    earlier = best is not None and best["step"] != trainer.state.global_step
    main = trainer.is_world_process_zero()
    if config.lora is None:
        if earlier:
            save_final(trainer, last)
        elif main:
            shutil.rmtree(last, ignore_errors=True)  # an earlier piece's: no longer the last policy
        if best is None:
            return save_final(trainer, final)
        if main:
            copy_best(out, final, trainer.processing_class)
        trainer.accelerator.wait_for_everyone()
        return final
    # Both policies are merged from their saved adapters into a fresh base model, not from the trainer's model
    # in memory. The in-memory way (the kept adapter loaded into the trainer's model, then merged) gave the kept
    # step the last step's weights in both GPU runs that evaluated the two (runs 11 and 14: the same held-out
    # scores; run 14: the same tokens in 38 of 40 dialogues, log-probs equal to 1e-6), though not on the CPU.
    if main:
        current = out / ".last_adapter"
        shutil.rmtree(current, ignore_errors=True)
        trainer.accelerator.unwrap_model(trainer.model).save_pretrained(str(current))
        if earlier:
            merge_saved_adapter(config.model, current, last, trainer.processing_class)
        else:
            shutil.rmtree(last, ignore_errors=True)
        kept = out / BEST_DIR if earlier else current  # a kept step that is the last step is the current adapter
        merge_saved_adapter(config.model, kept, final, trainer.processing_class)
        shutil.rmtree(current)
    trainer.accelerator.wait_for_everyone()
    return final


def save_final(trainer: Any, final: Path) -> Path:
    """The trained (full-weight) policy as a plain checkpoint folder with its tokenizer."""
    trainer.save_model(str(final))  # every rank takes part (sharded weights are gathered)
    if trainer.is_world_process_zero():
        trainer.processing_class.save_pretrained(str(final))
    return final
