"""The RL stage from its run config alone: the tool environment and judge it names, built by `cm2.build`."""

from __future__ import annotations

from pathlib import Path

from cm2.train.rl_config import RLRunConfig


def run_rl_from_config(config: RLRunConfig) -> Path:
    """`run_rl` with the tool environment registered as `config.tools` (over `config.simulator`) and the judge
    of `config.judge`; returns the folder of the final model."""
    from cm2.build import build_environments, build_judge
    from cm2.train.grpo import run_rl

    make_env = build_environments(config.tools, config.simulator)
    return run_rl(config, make_env=make_env, judge=build_judge(config.judge))
