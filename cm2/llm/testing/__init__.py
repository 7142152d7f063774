"""Test helpers that ship with the package: a fault-injecting OpenAI-compatible server, a tiny model."""

from cm2.llm.testing.background import BackgroundServer
from cm2.llm.testing.fault_server import (
    FakeOpenAIServer,
    Fault,
    FaultConfig,
    completion_body,
    echo,
    format_rejection,
    refusing_base_url,
)
from cm2.llm.testing.outages import OUTAGES, outage_base_url
from cm2.llm.testing.tiny_model import build_tiny_model, build_tiny_tokenizer, tiny_chat_template

__all__ = [
    "OUTAGES",
    "BackgroundServer",
    "FakeOpenAIServer",
    "Fault",
    "FaultConfig",
    "build_tiny_model",
    "build_tiny_tokenizer",
    "completion_body",
    "echo",
    "format_rejection",
    "outage_base_url",
    "refusing_base_url",
    "tiny_chat_template",
]
