"""Settings of a GRPO run with checklist rewards."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cm2.config import YamlConfig, move_keys
from cm2.judge.config import JudgeConfig
from cm2.reward import RewardConfig
from cm2.rollout.episode import EpisodeConfig
from cm2.rollout.policy import DecoderConfig
from cm2.tools import SimulatorConfig
from cm2.tools.environments import EnvironmentName
from cm2.train.models import LoraAdapterConfig, ModelConfig
from cm2.train.validation import ValidationMetricName

TaskKind = Literal["dialogue", "turn"]
"""RL tasks: whole dialogues, or one task per turn with the earlier turns as context."""
ZeroSpreadAction = Literal["keep", "resample"]
"""What a step does with groups whose rewards are all equal."""


class ProbeConfig(BaseModel):
    """Which dialogues form the probe set and how often it is evaluated."""

    every_steps: int = Field(default=10, ge=0, description="Evaluate every N optimizer steps (0: never).")
    dialogues: int = Field(
        default=16, ge=1, description="N dialogues (tasks) in `cm2 data split`'s hash order (fixed for the run)."
    )
    data: str | None = Field(
        default=None,
        description="Labelled dialogues to probe, none of them in `data` (a validation slice: the probe then "
        "measures what carries over to unseen dialogues), played whole as a held-out evaluation plays them; "
        "unset: the train tasks themselves.",
    )
    keep_best: bool = Field(
        default=False,
        description="Early stopping: the run's final model is the policy of the best probe (ties: the earlier "
        "step), step 0 included, best by `metric`'s score when set, else by the probe reward; see "
        "cm2.train.best. Meant with `data` (a validation slice).",
    )
    metric: ValidationMetricName | None = Field(
        default=None,
        description="A registered validation metric (cm2.train.validation) computed on every probe of `data` "
        "(required with it), e.g. a benchmark's own outcome numbers.",
    )
    concurrency: int = Field(default=64, ge=1, description="Probe episodes at once.")

    @model_validator(mode="after")
    def _metric_needs_dialogues(self) -> ProbeConfig:
        if self.metric is not None and self.data is None:
            raise ValueError("probe.metric scores whole dialogues: set probe.data (a validation slice) with it")
        return self


class UnavailableVerdicts(BaseModel):
    """What a GRPO step does with rollouts the judge could not fully score (endpoint down, 401, timeouts).

    Such a rollout is never trained on as if its missing verdicts were false: `retry` waits `wait_s` and
    runs those episodes again (same dialogue, checklist and policy weights), up to `retries` times, then
    stops training with an error (resume from the last checkpoint once the judge is back); `drop` keeps
    the step going without them (no advantage, left out of their group's statistics). Either count is
    logged per step as `cm2/unavailable_retried` and `cm2/unavailable_dropped`.
    """

    model_config = ConfigDict(extra="forbid")

    action: Literal["retry", "drop"] = "retry"
    retries: int = Field(default=3, ge=0, description="Re-runs of the affected episodes before giving up.")
    wait_s: float = Field(default=30.0, ge=0, description="Pause before each re-run (the judge may be restarting).")


class ZeroSpreadGroups(BaseModel):
    """What a step does with a group whose rollouts all get the same advantage (zero everywhere): such a group
    teaches nothing, yet under the `dapo` loss its tokens still count in the normaliser and dilute the rest.

    `resample` (DAPO's dynamic sampling) runs fresh groups on other tasks, drawn at random (seeded), in place of
    the flat ones, up to `rounds` times; groups still flat after that are kept. `keep` trains on the batch as
    drawn. Counts are logged per step as `cm2/flat_groups`, `cm2/resampled_groups` and `cm2/flat_groups_left`.
    """

    model_config = ConfigDict(extra="forbid")

    action: ZeroSpreadAction = "keep"
    rounds: int = Field(default=2, ge=1, description="Resampling rounds per step at most.")


class RLRunConfig(YamlConfig):
    """A GRPO run: policy, data, episodes, judge, tools, rewards and optimisation (paper defaults)."""

    model: ModelConfig
    data: str = Field(description="RL dialogues with checklists (any format cm2 reads).")
    output_dir: str = "runs/rl"
    reward: RewardConfig = Field(default_factory=RewardConfig)
    episode: EpisodeConfig = Field(default_factory=EpisodeConfig)
    decoder: DecoderConfig = Field(
        default_factory=DecoderConfig, description="How rollouts are generated (cm2's decode loop or `generate`)."
    )
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    unavailable: UnavailableVerdicts = Field(
        default_factory=UnavailableVerdicts, description="Rollouts with verdicts the judge could not give."
    )
    tools: EnvironmentName = "simulated"
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    tasks: TaskKind = Field(
        default="dialogue",
        description="dialogue: an episode plays every turn from the first; turn: one task per turn, the earlier "
        "turns given as reference history and the environment put in their state (cm2.data.turn_tasks).",
    )
    zero_spread: ZeroSpreadGroups = Field(
        default_factory=ZeroSpreadGroups, description="Groups whose advantages are all zero."
    )
    group_size: int = Field(default=8, ge=2, description="Rollouts per dialogue (the paper: 24 or 48).")
    dialogues_per_step: int = Field(default=1, ge=1, description="Dialogues per optimizer step.")
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    learning_rate: float = 3e-6
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    warmup_ratio: float = Field(default=0.0, ge=0.0, lt=1.0, description="Share of max_steps spent warming up.")
    kl_coef: float = Field(default=0.001, ge=0.0, description="Low-variance (k3) KL to the reference model.")
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = Field(
        default="dapo",
        description="dapo: every completion token of the step weighs the same (sum over the step's tokens divided "
        "by their count), so long rollouts are not down-weighted per token as under grpo's per-sequence mean.",
    )
    max_steps: int = 100
    max_minutes: float | None = Field(
        default=None, gt=0, description="Stop after the optimizer step that passes this wall-clock budget."
    )
    num_iterations: int = Field(default=1, ge=1, description="Optimisation passes per batch of rollouts.")
    logprob_check_every: int = Field(
        default=10,
        ge=0,
        description="Every N steps (the first included), score the batch's sampled tokens with the trainer's own "
        "forward pass and log how far the rollout's log-probs are (`cm2/logprob_gap_mean`, `cm2/logprob_gap_max`; "
        "near 0 when the sampler is the policy trained); 0: never. Costs one forward pass without gradients.",
    )
    episode_concurrency: int = Field(default=64, ge=1)
    gradient_checkpointing: bool = Field(
        default=True,
        description="Recompute activations in the backward pass (TRL's default): less memory for another forward "
        "pass in the training half of each step.",
    )
    shared_prompt_scoring: bool = Field(
        default=False,
        description="Score the rows of a group with their shared prompt run once instead of once a row (the same "
        "numbers; one process, without gradient_checkpointing; cm2.train.shared_prompt).",
    )
    lora: LoraAdapterConfig | None = None
    use_cpu: bool = False
    bf16: bool = False
    seed: int = 0
    save_steps: int = 50
    save_total_limit: int | None = Field(
        default=None, ge=1, description="Checkpoints kept, the newest (None: all); a run resumes from the newest."
    )
    logging_steps: int = 1
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])
    resume: bool = False
    trajectories_file: str = Field(default="trajectories.jsonl", description="Every rollout, under output_dir.")
    probe: ProbeConfig = Field(
        default_factory=ProbeConfig,
        description="Train dialogues evaluated greedily every N steps (probe.jsonl; every_steps 0: off).",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_endpoint_keys(cls, data: Any) -> Any:
        """`judge_llm` and `simulator_llm` of older files are `judge.llm` and `simulator.llm`."""
        return move_keys(data)

    @model_validator(mode="after")
    def _shared_prompt_needs_the_cache(self) -> RLRunConfig:
        if self.shared_prompt_scoring and self.gradient_checkpointing:
            raise ValueError(
                "shared_prompt_scoring: set gradient_checkpointing: false too (recomputing activations drops the "
                "prompt's cache that the rows share)"
            )
        return self
