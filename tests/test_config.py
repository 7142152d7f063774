"""The one config mechanism: a YAML file plus dotted `--set` overrides, checked by pydantic."""

from __future__ import annotations

from pathlib import Path

import pytest

from cm2.config import field_at, load_config, parse_overrides
from cm2.judge.config import JudgeConfig
from cm2.llm import LLMConfig
from cm2.train.rl_config import RLRunConfig


def test_overrides_are_dotted_yaml_values_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rl.yaml"
    path.write_text("model: {path: m}\ndata: d.jsonl\njudge: {votes: 3}\n", encoding="utf-8")
    sets = ["judge.llm={model: j, base_url: 'http://h:1/v1'}", "max_steps=7", "reward.level=turn", "report_to=[]"]
    config = load_config(RLRunConfig, path, sets)
    assert (config.judge.votes, config.max_steps, config.reward.level, config.report_to) == (3, 7, "turn", [])
    assert config.judge.llm is not None and config.judge.llm.base_urls == ["http://h:1/v1"]
    assert config.judge.cache_model == "j"  # the verdict cache key names the endpoint's model
    # derived, not stored: a later override of the endpoint's model changes the key too
    again = load_config(RLRunConfig, None, ["judge.llm.model=k"], base=config.model_dump(mode="json"))
    assert again.judge.cache_model == "k"


def test_errors_name_the_file_or_the_override_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "rl.yaml"
    path.write_text("model: {path: m}\ndata: d\nmax_stepz: 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"rl\.yaml: invalid RLRunConfig: max_stepz: Extra inputs"):
        load_config(RLRunConfig, path)
    with pytest.raises(ValueError, match=r"--set: invalid LLMConfig: max_retries: "):
        load_config(LLMConfig, None, ["model=m", "max_retries=-1"])
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_overrides(["judge.llm"])
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_overrides(["judge..llm=x"])


def test_old_endpoint_keys_still_load_and_merge_with_the_new_place() -> None:
    old = {"model": {"path": "m"}, "data": "d", "judge_llm": {"model": "j", "base_urls": ["http://a/v1"]}}
    config = load_config(RLRunConfig, None, {"judge.llm.base_url": "http://b/v1"}, base=old)
    assert config.judge.llm is not None
    assert (config.judge.llm.model, config.judge.llm.base_urls) == ("j", ["http://b/v1"])
    assert load_config(RLRunConfig, None, base={**old, "simulator_llm": None}).simulator.llm is None


@pytest.mark.parametrize("typo", ["episode.limits.max_turn=3", "simulator.max_attempt=2", "model.pth=x"])
def test_a_typo_in_a_nested_section_is_an_error_not_a_silent_default(typo: str) -> None:
    with pytest.raises(ValueError, match=rf"{typo.split('=')[0]}: no such setting"):
        load_config(RLRunConfig, None, ["model.path=m", "data=d", typo])


def test_field_at_finds_the_field_a_dotted_override_sets() -> None:
    assert field_at(RLRunConfig, "judge.votes") is JudgeConfig.model_fields["votes"]
    assert field_at(RLRunConfig, "simulator.llm.model") is LLMConfig.model_fields["model"]  # through `X | None`
