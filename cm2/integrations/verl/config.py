"""cm2's settings inside a VeRL trainer config: the rollout block `cm2` and the reward block `algorithm.cm2`.

The reward settings live under `algorithm` because VeRL hands advantage estimators only
`config.algorithm`; everything the agent loop needs (episode limits, judge, tools) lives in a
top-level `cm2` block. Both are plain mappings in the hydra config, validated here with pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from cm2.config import YamlConfig, load_config, move_keys
from cm2.judge.config import JudgeConfig
from cm2.reward import RewardConfig
from cm2.rollout.episode import EpisodeConfig
from cm2.tools import SimulatorConfig
from cm2.tools.environments import EnvironmentName

AGENT_NAME = "cm2_agent"
ESTIMATOR_NAME = "cm2_checklist"
TRAINER_NAMES = {"cm2_sync": "sync", "cm2_colocate_async": "colocate_async", "cm2_separate_async": "separate_async"}
"""cm2's trainer registrations and the VeRL trainer mode each one extends."""


class VerlRolloutConfig(YamlConfig):
    """The `cm2` block of a VeRL config: how the agent loop runs episodes, judges and answers tools."""

    episode: EpisodeConfig = Field(
        default_factory=EpisodeConfig,
        description="Turn/step/context limits and early stop; temperature and top_p come from VeRL's rollout.",
    )
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    tools: EnvironmentName = "simulated"
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    stop_token_ids: list[int] = Field(
        default_factory=list,
        description="Token ids that end an assistant step besides the tokenizer's EOS (sent to the server).",
    )
    stop: list[str] = Field(default_factory=list, description="Stop strings sent to the inference server.")
    trajectories_dir: str | None = Field(
        default=None,
        description="Append every finished episode (messages, verdicts, rewards) to JSONL files in this folder, "
        "one file per agent-loop worker process.",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_endpoint_keys(cls, data: Any) -> Any:
        """`judge_llm` and `simulator_llm` of older files are `judge.llm` and `simulator.llm`."""
        return move_keys(data)


def plain(config: Any) -> dict[str, Any]:
    """A hydra/OmegaConf node (or any mapping) as a plain resolved dict; None gives {}."""
    if config is None:
        return {}
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(config, DictConfig):
            container = OmegaConf.to_container(config, resolve=True)
            return {str(k): v for k, v in container.items()} if isinstance(container, dict) else {}
    except ImportError:  # pragma: no cover - omegaconf ships with verl
        pass
    if isinstance(config, Mapping):
        return {str(k): v for k, v in config.items()}
    raise TypeError(f"expected a mapping for a cm2 config block, got {type(config).__name__}")


def _get(config: Any, key: str) -> Any:
    getter = getattr(config, "get", None)
    if getter is not None:
        return getter(key)
    return getattr(config, key, None)


def reward_config(algorithm: Any) -> RewardConfig:
    """`algorithm.cm2` of a VeRL config as a RewardConfig (the paper's defaults when absent)."""
    block = _get(algorithm, "cm2") if algorithm is not None else None
    try:
        return load_config(RewardConfig, base=plain(block))
    except ValueError as exc:
        raise ValueError(f"algorithm.cm2: invalid reward settings\n{exc}") from exc


def rollout_config(trainer_config: Any) -> VerlRolloutConfig:
    """The top-level `cm2` block of a VeRL config as a VerlRolloutConfig (defaults when absent)."""
    block = _get(trainer_config, "cm2")
    try:
        return load_config(VerlRolloutConfig, base=plain(block))
    except ValueError as exc:
        raise ValueError(f"cm2: invalid rollout settings\n{exc}") from exc
