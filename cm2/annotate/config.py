"""Options of the annotation jobs (labeling, LLM filtering, CoT compression), loadable from YAML."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cm2.config import YamlConfig
from cm2.llm.config import LLMConfig
from cm2.llm.protocol import ReasoningEffort

DEFAULT_STAGES: tuple[ReasoningEffort, ...] = ("low", "low", "medium", "medium", "high", "high")


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnnotateSamplingConfig(_Options):
    """How each request to the annotating LLM is sampled."""

    temperature: float | None = Field(default=None, description="None: the endpoint's default.")
    max_tokens: int | None = Field(default=None, description="Answer length limit; None: the endpoint's default.")
    reasoning_effort: ReasoningEffort | None = Field(default=None, description="For models that reason.")
    seed: int = Field(default=0, description="Base seed; sample k of a dialogue uses seed + k.")


class ValidationConfig(_Options):
    """What an LLM-written checklist must satisfy before it is accepted (failures go back to the model)."""

    check_snippets: bool = Field(
        default=True, description="Each evidence snippet must occur in the message part it points at."
    )
    require_evidence: bool = Field(default=True, description="Each item needs at least one evidence pointer.")
    require_items: bool = Field(default=True, description="Each turn needs at least one item.")
    weight_slack: Annotated[float, Field(ge=0)] = Field(
        default=0.02,
        description="Turn weights summing to within this of 1 are rescaled silently; others are sent back.",
    )
    check_tool_checks: bool = Field(
        default=True, description="A `check` must name a tool of the dialogue and parameters of that tool."
    )


class TurnCheckConfig(_Options):
    """Items decided in code from how each turn ends (`cm2.annotate.turn_items`): `ends_with_reply` (a visible
    reply, not cut at the step limit), `call_budget` (at most the reference's calls plus `call_budget_slack`
    attempts, malformed ones included) and, for a dialogue whose environment reports its state
    (`environment_reports_state: true`, as a benchmark's importer may set), `environment_state` (the state
    equals the reference after the turn), and `reference_calls_only` (no call the reference did not make). Each
    depends on the turn's first call item. A plain string sets `mode` alone."""

    mode: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="auto: on for dialogues with `environment_reports_state: true`, off for the others.",
    )
    call_budget_slack: Annotated[int, Field(ge=0)] | None = Field(
        default=0,
        description="Tool-call attempts allowed beyond the reference's count before the `call_budget` item fails; "
        "None leaves the item out (no efficiency pressure).",
    )
    reference_calls_only: bool = Field(
        default=True,
        description="Add `reference_calls_only` where every call item of the turn is decided in code: it fails when "
        "the turn makes a call the reference did not (a guess costs reward even within the call budget).",
    )
    weight: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None,
        description="Weight of each turn-end item (the other items share what is left); None: reference labels "
        "weigh all items of a turn equally, LLM labels give each turn-end item 1/(items of the turn).",
    )

    @model_validator(mode="before")
    @classmethod
    def _mode_alone(cls, data: Any) -> Any:
        return {"mode": data} if isinstance(data, str) else data


class LabelConfig(_Options):
    """Checklist labeling with an LLM."""

    num_checklists: Annotated[int, Field(ge=1, description="Independent checklists per dialogue (K).")] = 1
    min_checklists: int | None = Field(
        default=None, description="Keep a dialogue when at least this many samples succeed (None: all K)."
    )
    max_repair_rounds: Annotated[int, Field(ge=0, description="Follow-ups sending the problems back.")] = 2
    sampling: AnnotateSamplingConfig = Field(default_factory=lambda: AnnotateSamplingConfig(temperature=0.7))
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    turn_checks: TurnCheckConfig = Field(
        default_factory=lambda: TurnCheckConfig(),
        description="Code-checked turn-end items appended to every accepted checklist (see TurnCheckConfig).",
    )

    @model_validator(mode="after")
    def _check(self) -> LabelConfig:
        if self.min_checklists is not None and not 1 <= self.min_checklists <= self.num_checklists:
            raise ValueError("min_checklists must lie between 1 and num_checklists")
        return self

    @property
    def needed(self) -> int:
        return self.num_checklists if self.min_checklists is None else self.min_checklists


class ReferenceLabelConfig(_Options):
    """Deterministic labeling: one checked item per reference tool call, no LLM."""

    numeric_tolerance: Annotated[float, Field(ge=0)] = Field(
        default=0.0, description="Absolute tolerance of `numeric` constraints on number arguments."
    )
    long_text: Literal["exact", "substring", "omit"] = Field(
        default="exact",
        description="Constraint on string arguments of at least `long_text_chars` characters: equal, contain "
        "the reference text, or not checked at all.",
    )
    long_text_chars: Annotated[int, Field(ge=1)] = 80
    extra_arguments: bool = Field(
        default=True,
        description="A call item holds for a call with arguments the reference call did not pass (false: it fails, "
        "as exact-call metrics count such a call; run 13 of the learning experiment).",
    )
    final_reply_item: bool = Field(default=True, description="Add an item for the turn's final visible reply.")
    reply_depends_on_calls: bool = Field(default=True, description="The reply item depends on every call item.")
    call_required: bool = Field(default=True, description="`required_for_next_turn` of call items.")
    reply_required: bool = Field(default=False, description="`required_for_next_turn` of the reply item.")
    reply_weight: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None, description="Weight of the reply item (calls share the rest); None: all items equal."
    )
    min_value_chars: Annotated[int, Field(ge=1)] = Field(
        default=2, description="Value flow ignores argument values shorter than this once stringified."
    )
    turn_checks: TurnCheckConfig = Field(
        default_factory=lambda: TurnCheckConfig(),
        description="Code-checked turn-end items (a visible reply, a call budget, the environment's state).",
    )


class LLMFilterConfig(_Options):
    """Progressive LLM filtering."""

    stages: list[ReasoningEffort] = Field(
        default_factory=lambda: list(DEFAULT_STAGES),
        min_length=1,
        description="One review per entry, at that reasoning effort; the first rejection drops the dialogue.",
    )
    sampling: AnnotateSamplingConfig = Field(default_factory=AnnotateSamplingConfig)


class CompressConfig(_Options):
    """Chain-of-thought compression."""

    min_chars: Annotated[int, Field(ge=0)] = Field(default=200, description="Thinking shorter than this is left alone.")
    batch_chars: Annotated[int, Field(ge=1)] = Field(
        default=24_000, description="Passages go to the LLM in batches of about this many characters."
    )
    max_ratio: Annotated[float, Field(gt=0, le=1)] = Field(
        default=1.0, description="A rewrite longer than this fraction of the original is rejected."
    )
    sampling: AnnotateSamplingConfig = Field(default_factory=lambda: AnnotateSamplingConfig(temperature=0.2))


class AnnotateConfig(_Options, YamlConfig):
    """The `--config` file of `cm2 label`, `cm2 filter-llm` and `cm2 compress-cot`; each reads its section.

    ```yaml
    llm: {model: gpt-4.1, base_urls: [https://api.openai.com/v1], prices: prices.yaml}
    concurrency: 16
    label: {num_checklists: 3, max_repair_rounds: 2}
    ```
    """

    llm: LLMConfig | None = Field(default=None, description="The annotating model (any cm2.llm.LLMConfig).")
    concurrency: Annotated[int, Field(ge=1, description="Dialogues processed at once.")] = 8
    label: LabelConfig = Field(default_factory=LabelConfig)
    reference: ReferenceLabelConfig = Field(default_factory=ReferenceLabelConfig)
    filter: LLMFilterConfig = Field(default_factory=LLMFilterConfig)
    compress: CompressConfig = Field(default_factory=CompressConfig)
