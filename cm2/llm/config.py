"""How to reach one LLM: backend, endpoints, limits, structured-output dialect, cache and prices."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr, model_validator

from cm2.config import YamlConfig
from cm2.llm.backends import backend_name
from cm2.llm.prices import PriceTable
from cm2.llm.protocol import ChatRequest, ReasoningEffort
from cm2.llm.redact import redact_url
from cm2.llm.structured import DialectChoice

BackendKind = Annotated[str, AfterValidator(backend_name)]
"""The name of a registered LLM backend (`openai`, `transformers`, or one a plug-in registers)."""


class LLMConfig(YamlConfig):
    """One LLM role (annotator, filter, compressor, judge, tool_simulator, user_simulator, …).

    The API key is never part of the config: only the name of the environment variable holding it.
    """

    backend: BackendKind = Field(
        default="openai",
        description="`openai`: any OpenAI-compatible HTTP endpoint; `transformers`: a model loaded in this process "
        "(or a backend registered by name, see cm2.llm.backends).",
    )
    model: str = Field(description="Model name sent to the endpoint, or the local path for `transformers`.")
    base_urls: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000/v1"],
        description="One or more OpenAI-compatible base URLs (ending in /v1); requests are spread over them.",
    )
    api_key_env: str | None = Field(default="OPENAI_API_KEY", description="Environment variable holding the key.")
    max_concurrency: Annotated[int, Field(ge=1, description="Requests in flight at once, over all endpoints.")] = 16
    timeout_s: Annotated[float, Field(gt=0, description="Per-request timeout.")] = 120.0
    max_retries: Annotated[int, Field(ge=0, description="Retries on 5xx, 429, timeouts, connection errors.")] = 4
    backoff_base_s: Annotated[float, Field(ge=0, description="First retry delay; doubles each retry.")] = 0.5
    backoff_max_s: Annotated[float, Field(ge=0, description="Upper bound of one retry delay.")] = 30.0
    json_attempts: Annotated[int, Field(ge=1, description="Tries to get JSON that parses and validates.")] = 3
    structured_output: DialectChoice = Field(
        default="auto", description="How JSON is requested: json_schema, json_object_schema, plain, or auto."
    )
    json_schema_strict: bool = Field(default=False, description="`strict` flag of the json_schema dialect.")
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    failure_threshold: Annotated[int, Field(ge=1, description="Consecutive failures before a cool-down.")] = 3
    cooldown_s: Annotated[float, Field(ge=0, description="How long a failing endpoint is avoided.")] = 30.0
    temperature: float | None = Field(default=None, description="Default when a request leaves it unset.")
    top_p: float | None = None
    max_tokens: int | None = Field(default=None, description="Default when a request leaves it unset.")
    reasoning_effort: ReasoningEffort | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict, description="Merged into every request body.")
    cache_path: Path | None = Field(default=None, description="SQLite file caching answers (opt-in).")
    prices: PriceTable | Path | None = Field(default=None, description="A price table, or a YAML file holding one.")
    chat_template: Path | None = Field(default=None, description="`transformers`: a Jinja chat template file.")
    device: str = Field(default="cpu", description="`transformers`: torch device.")
    dtype: str = Field(default="auto", description="`transformers`: torch dtype name, or auto.")
    max_batch_size: Annotated[int, Field(ge=1, description="`transformers`: requests generated together.")] = 8

    @model_validator(mode="before")
    @classmethod
    def _one_url(cls, data: Any) -> Any:
        """`base_url: URL` sets `base_urls` to `[URL]` (handy in `--set judge.llm.base_url=URL`)."""
        if isinstance(data, dict) and "base_url" in data:
            data = {**data, "base_urls": [data["base_url"]]}
            del data["base_url"]
        return data

    @model_validator(mode="after")
    def _check(self) -> LLMConfig:
        if self.backend == "openai" and not self.base_urls:
            raise ValueError("base_urls: at least one URL is needed for the openai backend")
        self.base_urls = [url.rstrip("/") for url in self.base_urls]
        return self

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, [redact_url(url) for url in value] if name == "base_urls" else value

    def api_key(self) -> SecretStr | None:
        """The key read from `api_key_env` (None when unset); a SecretStr never shows its value."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        return SecretStr(value) if value else None

    def price_table(self) -> PriceTable:
        """The configured prices (an empty table when none)."""
        if self.prices is None:
            return PriceTable()
        if isinstance(self.prices, PriceTable):
            return self.prices
        return PriceTable.from_yaml(self.prices)

    def with_defaults(self, request: ChatRequest) -> ChatRequest:
        """`request` with this config's defaults filled where it left a field unset."""
        updates: dict[str, Any] = {}
        for name in ("temperature", "top_p", "max_tokens", "reasoning_effort"):
            if getattr(request, name) is None and getattr(self, name) is not None:
                updates[name] = getattr(self, name)
        if self.extra_body:
            updates["extra_body"] = {**self.extra_body, **request.extra_body}
        return request.model_copy(update=updates) if updates else request


def request_defaults(config: LLMConfig) -> dict[str, Any]:
    """The config fields that change what a request asks for (part of a cache key)."""
    return config.model_dump(
        mode="json", include={"temperature", "top_p", "max_tokens", "reasoning_effort", "extra_body"}
    )
