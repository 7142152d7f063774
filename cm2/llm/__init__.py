"""One async LLM client protocol with several backends.

`make_client(LLMConfig(...))` gives an `LLMClient` for one role: an OpenAI-compatible HTTP endpoint
(retries, several endpoints, structured output in the server's dialect) or an in-process transformers
model, optionally behind an on-disk cache and a `UsageMeter`.
"""

from cm2.llm.config import BackendKind, LLMConfig
from cm2.llm.factory import make_backend, make_client
from cm2.llm.jsonx import JSONExtractionError, extract_json, strip_think
from cm2.llm.prices import ModelPrice, PriceTable
from cm2.llm.protocol import ChatRequest, ChatResponse, LLMClient, LLMError, ReasoningEffort, Usage
from cm2.llm.usage import MeteredClient, UsageMeter, UsageTotals, usage_key

__all__ = [
    "BackendKind",
    "ChatRequest",
    "ChatResponse",
    "JSONExtractionError",
    "LLMClient",
    "LLMConfig",
    "LLMError",
    "MeteredClient",
    "ModelPrice",
    "PriceTable",
    "ReasoningEffort",
    "Usage",
    "UsageMeter",
    "UsageTotals",
    "extract_json",
    "make_backend",
    "make_client",
    "strip_think",
    "usage_key",
]
