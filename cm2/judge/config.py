"""Settings of the checklist judge."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from cm2.config import YamlConfig
from cm2.judge.kinds import judge_name
from cm2.llm.config import LLMConfig

JudgeMode = Literal["per_item", "batched", "released"]
TiePolicy = Literal["false", "true", "none"]


class JudgeConfig(YamlConfig):
    """How the judge asks: which items, in which prompt shape, how many times, how hard it retries."""

    kind: Annotated[
        str, AfterValidator(judge_name), Field(description="The registered judge: checklist (cm2.judge.kinds).")
    ] = "checklist"
    mode: Annotated[
        JudgeMode,
        Field(
            description="per_item: one call per open item and step; batched: one call per step with every "
            "open item; released: every item at every step, one call each, nothing skipped (the baseline)."
        ),
    ] = "batched"
    votes: Annotated[int, Field(ge=1, description="Independent answers per item; the majority decides.")] = 1
    tie: Annotated[
        TiePolicy,
        Field(
            description="The verdict when votes tie (None votes are not counted): false, true or none (no verdict: "
            "like an outage, `cm2 judge` then leaves the group unwritten unless --allow-partial)."
        ),
    ] = "false"
    attempts: Annotated[
        int,
        Field(
            ge=1,
            description="Tries per answer when the call fails or the answer cannot be parsed (or, in "
            "batched mode, leaves items out); then the verdict is recorded as unavailable.",
        ),
    ] = 3
    temperature: Annotated[float | None, Field(description="Sampling temperature sent to the judge model.")] = 0.0
    max_tokens: Annotated[int | None, Field(ge=1, description="Answer length limit per call.")] = 1024
    seed: Annotated[
        int | None, Field(description="Seed of the first vote; vote i sends seed + i (None: send no seed).")
    ] = 0
    concurrency: Annotated[int, Field(ge=1, description="Judge calls in flight at once.")] = 16
    model: Annotated[str, Field(description="Name of the judge model; part of the verdict cache key.")] = ""
    tool_error_false: Annotated[
        bool,
        Field(description="Items focused on tool calls or tool content are false at a step whose tool call failed."),
    ] = True
    skip_absent_focus: Annotated[
        bool,
        Field(
            description="An item whose focus is absent from the turn so far (no tool call, tool result, visible "
            "reply or reasoning yet) is false without asking the model (source 'check'); ignored in released mode."
        ),
    ] = True
    include_system: Annotated[bool, Field(description="Show the policy's system message to the judge.")] = False
    include_evidence: Annotated[
        bool, Field(description="Show each item's evidence snippets from the reference dialogue to the judge.")
    ] = False
    cache_size: Annotated[int, Field(ge=0, description="Verdicts kept in the in-memory LRU cache (0: none).")] = 100_000
    cache_path: Annotated[
        Path | None, Field(description="SQLite file that keeps verdicts across runs (None: memory only).")
    ] = None
    llm: Annotated[
        LLMConfig | None, Field(description="The judge's endpoint; None: only items with a `check` get verdicts.")
    ] = None

    @property
    def cache_model(self) -> str:
        """The model named in the verdict cache key: `model`, else the endpoint's (derived, so an override of
        `llm.model` can never reuse another model's verdicts)."""
        return self.model or (self.llm.model if self.llm is not None else "")

    @classmethod
    def from_file_mapping(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A file may hold the fields at the top or under a `judge:` key."""
        return data["judge"] if isinstance(data.get("judge"), dict) else data
