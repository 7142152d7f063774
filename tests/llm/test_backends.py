"""LLM backends chosen by name: the built-ins load lazily, a registered one is built by the factory with the
cache and meter around it, and an unknown name is refused with the known ones."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from cm2.llm.backends import LLM_BACKENDS, register_llm_backend
from cm2.llm.config import LLMConfig
from cm2.llm.factory import make_client
from cm2.llm.fake import ScriptedLLM
from cm2.llm.protocol import ChatRequest, LLMClient
from cm2.llm.usage import UsageMeter

SEEN: list[LLMConfig] = []


@register_llm_backend("scripted-test")
def scripted_backend(config: LLMConfig) -> LLMClient:
    SEEN.append(config)
    return ScriptedLLM(lambda request: f"{config.model} says hi")


def test_a_registered_backend_is_built_by_name_inside_cache_and_meter(tmp_path: Path) -> None:
    config = LLMConfig(backend="scripted-test", model="echo", cache_path=tmp_path / "cache.sqlite")
    meter = UsageMeter()
    client = make_client(config, role="judge", meter=meter)
    request = ChatRequest(messages=[{"role": "user", "content": "hello"}])
    assert asyncio.run(client.chat(request)).text == "echo says hi"
    assert asyncio.run(client.chat(request)).text == "echo says hi"  # the second answer comes from the cache
    assert SEEN[-1] is config and len(SEEN) == 1
    assert meter.by_role()["judge"].requests == 2 and meter.by_role()["judge"].cached == 1


def test_an_unknown_backend_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"unknown LLM backend 'vllm'; known: openai, .*transformers"):
        LLMConfig(backend="vllm", model="m")


def test_the_built_in_backends_load_only_when_chosen() -> None:
    assert {"openai", "transformers"} <= set(LLM_BACKENDS.names())
    script = (
        "import sys; from cm2.llm import LLMConfig, make_client; "
        "LLMConfig(backend='transformers', model='m'); make_client(LLMConfig(model='m', api_key_env=None)); "
        "assert 'cm2.llm.transformers_backend' not in sys.modules and 'cm2.llm.openai_backend' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
