"""Cold-start SFT on TRL: imitate reference dialogues, with the loss on the assistant's tokens only.

`run_sft(config)` loads the policy (checkpoint or GGUF, cm2's chat template when the model has
none, optional new special tokens initialised from related words), turns the dialogues into
token ids with an assistant-only mask (cm2.train.sft_data), trains all parameters or a LoRA
adapter with TRL's SFTTrainer (checkpoints, resume, TensorBoard), and writes the final model and
tokenizer (chat template included) to `output_dir/final`, ready for the RL stage and for serving.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from cm2.data.atomic import swap_in
from cm2.data.io import Problem, read_dialogues
from cm2.schema import Dialogue
from cm2.train.models import SPECIAL_TOKEN_SEEDS, LoraAdapterConfig, add_special_tokens, load_policy
from cm2.train.sft_config import SFTData, SFTRunConfig
from cm2.train.sft_data import BuildReport, build_examples, to_dataset

log = logging.getLogger(__name__)

MANIFEST = "cm2_sft.json"


class SFTError(RuntimeError):
    """A run that cannot start or finish; the message says why and what to change."""


class SFTResult(BaseModel):
    """What a finished run produced."""

    final_dir: str = Field(description="The trained model and tokenizer.")
    global_step: int
    train_loss: float | None = Field(default=None, description="Mean training loss over the run.")
    resumed_from: str | None = None
    added_tokens: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict, description="What happened to the dialogues.")
    log_history: list[dict[str, Any]] = Field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The run's results as rows: the model, steps, loss, resume point, added tokens, what the data gave."""
        return {
            "final model": self.final_dir,
            "steps": self.global_step,
            "train loss": f"{self.train_loss:.4f}" if self.train_loss is not None else "-",
            "resumed from": self.resumed_from or "-",
            "added tokens": ", ".join(self.added_tokens) or "-",
            **self.data,
        }


def load_dialogues(data: SFTData, path: str, limit: int | None = None) -> list[Dialogue]:
    """The first `limit` dialogues of `path`; unreadable records are skipped and logged with `data.skip_invalid`."""
    problems: list[Problem] | None = [] if data.skip_invalid else None
    dialogues: list[Dialogue] = []
    for dialogue in read_dialogues(path, data.format, problems, source=data.source):
        dialogues.append(dialogue)
        if limit is not None and len(dialogues) >= limit:
            break
    if problems:
        shown = "; ".join(f"{where}: {message}" for where, message in problems[:5])
        log.warning("%s: skipped %d unreadable record(s): %s", path, len(problems), shown)
    if not dialogues:
        raise SFTError(f"{path}: no dialogues to train on")
    return dialogues


def _checkpoint_to_resume(config: SFTRunConfig) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    out = Path(config.output_dir)
    last = get_last_checkpoint(str(out)) if out.is_dir() else None
    if isinstance(config.resume, str):
        if not Path(config.resume).is_dir():
            raise SFTError(f"resume: no checkpoint folder at {config.resume}")
        return config.resume
    if config.resume:
        if last is None:
            log.warning("resume: no checkpoint in %s yet; starting from the beginning", out)
        return last
    if last is not None:
        raise SFTError(
            f"{out} already holds checkpoints ({Path(last).name}); pass --resume to continue that run "
            "or choose another output_dir (--set output_dir=DIR)"
        )
    return None


def _embedding_module_name(model: Any) -> str:
    embeddings = model.get_input_embeddings()
    for name, module in model.named_modules():
        if module is embeddings:
            return name.rsplit(".", 1)[-1]
    raise SFTError("cannot find the model's input embedding module for LoRA's trainable tokens")


def _lora_config(options: LoraAdapterConfig, model: Any, new_token_ids: list[int]) -> Any:
    from peft import LoraConfig

    target: str | list[str] = options.target_modules
    config = LoraConfig(
        r=options.r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=target,
        task_type="CAUSAL_LM",
    )
    if new_token_ids:
        # New special tokens start as averages of related words: train their rows, and only theirs.
        # With tied embeddings peft updates the output rows too.
        config.trainable_token_indices = {_embedding_module_name(model): new_token_ids}
    return config


def _patch_trainable_token_wrappers(model: Any) -> None:
    """Let TRL's fused LM head read `bias` through peft's TrainableTokensWrapper.

    With LoRA and new tokens on a tied-embedding model, peft wraps the output layer too; the wrapper
    serves `weight` (merged with the trained rows) but not `bias`, which TRL 1.16's fused head reads.
    The wrapped layer's own bias (usually None) is the right answer.
    """
    for module in model.modules():
        if type(module).__name__ == "TrainableTokensWrapper" and "bias" not in module.__dict__:
            original = module.original_module
            module.__dict__["bias"] = getattr(original, "bias", None)


def _report_to(names: list[str]) -> list[str]:
    from transformers.integrations import is_tensorboard_available, is_trackio_available, is_wandb_available

    available = {
        "tensorboard": is_tensorboard_available,
        "wandb": is_wandb_available,
        "trackio": is_trackio_available,
    }
    missing = [name for name in names if not available[name]()]
    if missing:
        raise SFTError(f"report_to: {', '.join(missing)} not installed (pip install {' '.join(missing)})")
    return list(names)


def training_arguments(config: SFTRunConfig, has_eval: bool) -> Any:
    """TRL's SFTConfig for this run."""
    from trl import SFTConfig

    from cm2.train.models import cpu_training, renamed_training_fields

    on_cpu = cpu_training(config.use_cpu)
    renamed = renamed_training_fields(
        SFTConfig, checkpointing=config.gradient_checkpointing, warmup=config.warmup_ratio
    )
    return SFTConfig(
        **renamed,
        output_dir=config.output_dir,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        per_device_train_batch_size=config.per_device_batch_size,
        per_device_eval_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        max_length=config.max_length,
        seed=config.seed,
        data_seed=config.seed,
        bf16=config.bf16,
        use_cpu=on_cpu,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="steps" if has_eval and config.eval_steps else "no",
        eval_steps=config.eval_steps,
        report_to=_report_to(list(config.report_to)) or "none",
        disable_tqdm=not config.progress,
        dataloader_pin_memory=not on_cpu,
    )


def _save_final(trainer: Any, config: SFTRunConfig, manifest: dict[str, Any]) -> Path:
    final = config.final_dir
    partial = final.with_name(f".{final.name}.partial")
    if trainer.is_world_process_zero():
        shutil.rmtree(partial, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    if config.lora is not None:
        if trainer.is_world_process_zero():
            model = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            model.save_pretrained(partial)
    else:
        trainer.save_model(str(partial))  # every rank takes part (sharded weights are gathered)
    if trainer.is_world_process_zero():
        tokenizer = trainer.processing_class
        tokenizer.save_pretrained(partial)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
        swap_in(partial, final)
    trainer.accelerator.wait_for_everyone()
    return final


def run_sft(config: SFTRunConfig) -> SFTResult:
    """Train, checkpointing as it goes, and save the final model to `config.final_dir`."""
    from trl import SFTTrainer

    resume_from = _checkpoint_to_resume(config)
    train_dialogues = load_dialogues(config.data, config.data.path, config.data.limit)
    eval_dialogues = load_dialogues(config.data, config.data.eval_path) if config.data.eval_path else None

    model, tokenizer = load_policy(config.model.model_copy(update={"add_special_tokens": False}))
    added = add_special_tokens(model, tokenizer, SPECIAL_TOKEN_SEEDS) if config.model.add_special_tokens else []
    if added:
        log.info("added special tokens %s (rows initialised from related words)", added)

    report = BuildReport()
    examples = build_examples(
        tokenizer,
        train_dialogues,
        max_length=config.max_length,
        drop_too_long=config.data.drop_too_long,
        report=report,
    )
    if not examples:
        raise SFTError(f"{config.data.path}: no dialogue produced a training example ({report.summary()})")
    if report.too_long and not config.data.drop_too_long:
        log.warning("%d dialogue(s) exceed max_length=%s and are truncated", len(report.too_long), config.max_length)
    if report.dropped_no_trained_tokens:
        log.warning(
            "%d dialogue(s) have no assistant token within max_length=%s and are dropped (first: %s)",
            len(report.dropped_no_trained_tokens),
            config.max_length,
            report.dropped_no_trained_tokens[0],
        )
    eval_dataset = None
    if eval_dialogues is not None:
        eval_examples = build_examples(tokenizer, eval_dialogues, max_length=config.max_length)
        if not eval_examples:
            raise SFTError(f"{config.data.eval_path}: no dialogue produced an eval example")
        eval_dataset = to_dataset(eval_examples)

    new_ids = [int(tokenizer.convert_tokens_to_ids(token)) for token in added]
    trainer = SFTTrainer(
        model=model,
        args=training_arguments(config, eval_dataset is not None),
        train_dataset=to_dataset(examples),
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=_lora_config(config.lora, model, new_ids) if config.lora is not None else None,
    )
    if new_ids and config.lora is not None:
        _patch_trainable_token_wrappers(trainer.model)
    output = trainer.train(resume_from_checkpoint=resume_from)
    manifest = {
        "config": config.model_dump(mode="json"),
        "data": report.summary(),
        "added_tokens": added,
        "global_step": output.global_step,
        "train_loss": output.training_loss,
        "resumed_from": resume_from,
    }
    final = _save_final(trainer, config, manifest)
    return SFTResult(
        final_dir=str(final),
        global_step=output.global_step,
        train_loss=output.training_loss,
        resumed_from=resume_from,
        added_tokens=added,
        data=report.summary(),
        log_history=list(trainer.state.log_history),
    )
