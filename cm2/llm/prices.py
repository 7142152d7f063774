"""Prices of models (USD per million tokens), matched by exact name or glob pattern."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cm2.config import YamlConfig
from cm2.llm.protocol import Usage


class ModelPrice(BaseModel):
    """What one model costs."""

    model_config = ConfigDict(extra="forbid")

    prompt: Annotated[float, Field(ge=0, description="USD per 1M prompt (input) tokens.")] = 0.0
    completion: Annotated[float, Field(ge=0, description="USD per 1M completion (output) tokens.")] = 0.0


class PriceTable(YamlConfig):
    """Model name or glob pattern (`gpt-4o*`, `*/Qwen3-*`) → price.

    An exact name wins; otherwise the longest matching pattern (the most specific) wins; an unknown model
    costs nothing (self-hosted models are free at the margin).
    """

    prices: dict[str, ModelPrice] = Field(default_factory=dict)

    @classmethod
    def from_file_mapping(cls, data: dict[str, Any]) -> dict[str, Any]:
        """`{prices: {pattern: {prompt, completion}}}` or the bare `{pattern: {...}}` mapping."""
        return data if "prices" in data else {"prices": data}

    def price_for(self, model: str) -> ModelPrice | None:
        """The price that applies to `model`, or None when no entry matches."""
        if model in self.prices:
            return self.prices[model]
        matches = [pattern for pattern in self.prices if fnmatchcase(model, pattern)]
        if not matches:
            return None
        return self.prices[max(matches, key=len)]

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for that many tokens of `model`."""
        price = self.price_for(model)
        if price is None:
            return 0.0
        return (prompt_tokens * price.prompt + completion_tokens * price.completion) / 1_000_000

    def priced(self, model: str, usage: Usage) -> Usage:
        """`usage` with its `cost_usd` computed from this table."""
        return usage.model_copy(update={"cost_usd": self.cost(model, usage.prompt_tokens, usage.completion_tokens)})
