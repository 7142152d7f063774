"""LLMConfig: YAML loading, validation, defaults applied to requests, the factory."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cm2.llm.cache import CachedClient
from cm2.llm.config import LLMConfig
from cm2.llm.factory import make_client
from cm2.llm.openai_backend import OpenAIBackend
from cm2.llm.protocol import ChatRequest, LLMClient
from cm2.llm.usage import MeteredClient, UsageMeter

ROLES_YAML = """
roles:
  judge:
    model: Qwen/Qwen3-4B-Instruct-2507
    base_urls: ["http://gpu1:8000/v1/", "http://gpu2:8000/v1"]
    max_concurrency: 64
    structured_output: json_object_schema
    temperature: 0.0
    prices: {prices: {"Qwen/*": {prompt: 0.1, completion: 0.3}}}
  annotator:
    model: gpt-4o
    base_urls: ["https://api.openai.com/v1"]
    api_key_env: MY_OPENAI_KEY
    cache_path: cache/annotator.sqlite
"""


def test_roles_load_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(ROLES_YAML)
    judge = LLMConfig.from_yaml(path, key="roles.judge")
    assert judge.base_urls == ["http://gpu1:8000/v1", "http://gpu2:8000/v1"]
    assert judge.max_concurrency == 64 and judge.structured_output == "json_object_schema"
    assert judge.price_table().cost("Qwen/Qwen3-4B-Instruct-2507", 10**6, 10**6) == pytest.approx(0.4)
    annotator = LLMConfig.from_yaml(path, key="roles.annotator")
    assert annotator.api_key_env == "MY_OPENAI_KEY" and annotator.cache_path == Path("cache/annotator.sqlite")
    with pytest.raises(ValueError, match=r"roles\.critic"):
        LLMConfig.from_yaml(path, key="roles.critic")


def test_invalid_configs_name_the_field() -> None:
    with pytest.raises(ValidationError, match="structured_output"):
        LLMConfig.model_validate({"model": "m", "structured_output": "xml"})
    with pytest.raises(ValidationError, match="max_concurrency"):
        LLMConfig.model_validate({"model": "m", "max_concurrency": 0})
    with pytest.raises(ValidationError, match="base_urls"):
        LLMConfig.model_validate({"model": "m", "base_urls": []})
    with pytest.raises(ValidationError, match="api_key"):
        LLMConfig.model_validate({"model": "m", "api_key": "sk-..."})  # keys live in the environment only


def test_defaults_fill_only_unset_fields() -> None:
    config = LLMConfig(model="m", temperature=0.2, max_tokens=100, extra_body={"top_k": 20, "min_p": 0.1})
    request = ChatRequest(messages=[], temperature=0.9, extra_body={"top_k": 5})
    filled = config.with_defaults(request)
    assert filled.temperature == 0.9 and filled.max_tokens == 100
    assert filled.extra_body == {"top_k": 5, "min_p": 0.1}
    assert LLMConfig(model="m").with_defaults(request) is request


def test_factory_layers(tmp_path: Path) -> None:
    plain = make_client(LLMConfig(model="m"))
    assert isinstance(plain, OpenAIBackend) and isinstance(plain, LLMClient)
    cached = make_client(LLMConfig(model="m", cache_path=tmp_path / "c.sqlite"), role="judge", meter=UsageMeter())
    assert isinstance(cached, MeteredClient) and isinstance(cached.inner, CachedClient)
    assert cached.role == "judge" and isinstance(cached, LLMClient)
