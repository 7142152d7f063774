"""How checklist verdicts become rewards and advantages: one pydantic config."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Level = Literal["trajectory", "turn", "step"]
Scale = Literal["std", "one"]
Mode = Literal["paper", "released"]
UnknownPolicy = Literal["false", "drop"]
TurnBaseline = Literal["all", "reached"]


class RewardConfig(BaseModel):
    """Reward and advantage settings (defaults: the paper's final setting; unknown verdicts drop the rollout)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: Annotated[
        Level,
        Field(description="Where advantages are assigned: one per rollout, one per turn, or one per assistant step."),
    ] = "trajectory"
    scale: Annotated[
        Scale,
        Field(description="Divide centred rewards by the group's standard deviation (GRPO) or by 1 (Dr. GRPO)."),
    ] = "one"
    mode: Annotated[
        Mode,
        Field(
            description=(
                "paper: turn reward = weighted dependency-gated flips. released: weighted items satisfied at any "
                "step of the turn, no dependency gating (the released code's turn score)."
            )
        ),
    ] = "paper"
    turn_baseline: Annotated[
        TurnBaseline,
        Field(
            description=(
                "Which rollouts enter turn t's group statistics at turn and step level. all (the paper, Eqs. 7-9): "
                "every valid rollout of the group; one that never reached turn t counts R_t = 0 in the mean and "
                "standard deviation and as not flipping in the step baseline b[t, c]. reached (the released code's "
                "reading): only the valid rollouts that reached turn t. Either way only rollouts that reached turn t "
                "carry an advantage there (the others have no tokens in it). Defaults to all in paper mode and to "
                "reached in released mode."
            )
        ),
    ] = "all"
    eta: Annotated[
        float,
        Field(
            gt=0.0,
            le=1.0,
            description=(
                "Per-step decay: a flip earns eta**d, d = steps the item waited after it became eligible "
                "(for an item without dependencies, its step index in the turn). 1 disables it."
            ),
        ),
    ] = 1.0
    min_reach: Annotated[
        int | None,
        Field(
            ge=0,
            description=(
                "Step level only: items reached (eligible at some step) by at most this many valid rollouts of the "
                "group are left out of the step advantage (the released code used 4). None disables it."
            ),
        ),
    ] = None
    unknown: Annotated[
        UnknownPolicy,
        Field(
            description=(
                "A verdict that could not be obtained (None) on a not-yet-satisfied item: 'drop' marks the rollout "
                "invalid (no advantage, left out of group statistics); 'false' counts it as not satisfied, so an "
                "outage of the judge becomes a low reward (only for runs that accept that explicitly)."
            )
        ),
    ] = "drop"
    eps: Annotated[
        float,
        Field(ge=0.0, description="Added to the standard deviation when scale='std': (x - mean) / (std + eps)."),
    ] = 1e-6

    @model_validator(mode="before")
    @classmethod
    def _default_turn_baseline(cls, data: Any) -> Any:
        if isinstance(data, dict) and "turn_baseline" not in data and data.get("mode") == "released":
            return {**data, "turn_baseline": "reached"}
        return data

    @model_validator(mode="after")
    def _check_combination(self) -> RewardConfig:
        if self.mode == "released" and self.level == "step":
            raise ValueError(
                "mode='released' reproduces the released turn score; step-level advantages always use the "
                "paper's flips (set mode='paper')"
            )
        if self.mode == "released" and self.eta != 1.0:
            raise ValueError("eta has no effect on the released turn score; use mode='paper' or eta=1")
        return self
