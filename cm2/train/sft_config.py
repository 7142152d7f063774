"""Options of a cold-start SFT run, loadable from YAML (defaults follow the paper's recipe)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from cm2.config import YamlConfig
from cm2.data.adapters import RecordFormat
from cm2.train.models import LoraAdapterConfig, ModelConfig

Reporter = Literal["tensorboard", "wandb", "trackio"]


def _tensorboard() -> list[Reporter]:
    return ["tensorboard"]


_Options = YamlConfig


class SFTData(_Options):
    """The reference dialogues to imitate."""

    path: str = Field(description="Dialogue file or folder: JSONL, JSON, Parquet or a saved HF dataset.")
    format: str | None = Field(default=None, description="File format (jsonl, json, parquet, hf); None: by name.")
    source: RecordFormat | None = Field(default=None, description="Record format; None: detected per record.")
    limit: Annotated[int | None, Field(ge=1, description="Train on the first N dialogues only.")] = None
    skip_invalid: bool = Field(
        default=True, description="Skip records that do not parse as dialogues (listed in the log) instead of failing."
    )
    drop_too_long: bool = Field(
        default=False, description="Drop dialogues longer than max_length instead of truncating them."
    )
    eval_path: str | None = Field(default=None, description="Held-out dialogues for an eval loss, if any.")


class SFTRunConfig(_Options):
    """One SFT run: the model, the data, and the optimisation (paper: 2 epochs, lr 1e-6, batch 64)."""

    model: ModelConfig
    data: SFTData
    output_dir: str = Field(description="Checkpoints, TensorBoard logs and the final model (in `final/`).")
    epochs: Annotated[float, Field(gt=0)] = 2.0
    max_steps: int = Field(default=-1, description="Stop after this many optimizer steps (-1: run all epochs).")
    learning_rate: Annotated[float, Field(gt=0)] = 1e-6
    lr_scheduler: str = Field(default="cosine", description="Any HF scheduler name (cosine, linear, constant, ...).")
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.1
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    max_grad_norm: Annotated[float, Field(gt=0)] = 1.0
    per_device_batch_size: Annotated[int, Field(ge=1)] = 1
    gradient_accumulation_steps: Annotated[int, Field(ge=1)] = 64
    max_length: Annotated[int | None, Field(ge=16, description="Tokens per example; longer ones are cut.")] = 10_240
    gradient_checkpointing: bool = False
    seed: int = 0
    bf16: bool = Field(default=False, description="Mixed precision in bfloat16 (GPU, or CPUs with avx512_bf16).")
    use_cpu: bool = Field(default=False, description="Train on CPU even when a GPU is present.")
    lora: LoraAdapterConfig | None = Field(default=None, description="Train a LoRA adapter; None: all parameters.")
    logging_steps: Annotated[int, Field(ge=1)] = 10
    save_steps: Annotated[int, Field(ge=1)] = 500
    save_total_limit: Annotated[int | None, Field(ge=1, description="Checkpoints kept (None: all).")] = 3
    eval_steps: Annotated[int | None, Field(ge=1, description="Eval every N steps (needs data.eval_path).")] = None
    report_to: list[Reporter] = Field(default_factory=_tensorboard, description="Metric loggers.")
    resume: bool | str = Field(
        default=False, description="True: continue from the latest checkpoint in output_dir; or a checkpoint path."
    )
    progress: bool = Field(default=True, description="Show HF's progress bar.")

    @model_validator(mode="after")
    def _check(self) -> SFTRunConfig:
        if self.eval_steps is not None and self.data.eval_path is None:
            raise ValueError("eval_steps needs data.eval_path")
        return self

    @property
    def effective_batch_size(self) -> int:
        """Sequences per optimizer step on one device (times the number of devices when distributed)."""
        return self.per_device_batch_size * self.gradient_accumulation_steps

    @property
    def final_dir(self) -> Path:
        return Path(self.output_dir) / "final"
