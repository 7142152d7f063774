"""The shipped hydra configs compose on top of VeRL's own `ppo_trainer`, pass VeRL's `validate_config`,
carry the paper's hyper-parameters, and accept the overrides the launch scripts generate."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("verl")

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.utils.config import validate_config
from verl.utils.dataset.rl_dataset import get_dataset_class

from cm2.integrations.verl.config import reward_config, rollout_config
from cm2.integrations.verl.dataset import CM2ChecklistDataset
from cm2.reward import RewardConfig

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "configs" / "verl"
SCRIPTS = REPO / "examples" / "verl"


def composed(overrides: list[str] | None = None) -> Any:
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        config = compose(config_name="cm2_grpo", overrides=overrides or [])
    OmegaConf.resolve(config)
    validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    return config


def test_paper_setting() -> None:
    config = composed()
    actor, rollout = config.actor_rollout_ref.actor, config.actor_rollout_ref.rollout
    assert config.algorithm.adv_estimator == "cm2_checklist" and not config.algorithm.use_kl_in_reward
    assert reward_config(config.algorithm) == RewardConfig(level="trajectory", scale="one")  # F = 1
    assert rollout.n == 48 and actor.optim.lr == pytest.approx(3e-6)
    assert actor.use_kl_loss and actor.kl_loss_coef == pytest.approx(0.001) and actor.kl_loss_type == "low_var_kl"
    assert rollout.agent.default_agent_loop == "cm2_agent" and rollout.calculate_log_probs
    assert config.trainer.use_v1 and config.trainer.v1.trainer_mode == "cm2_sync"
    episode = rollout_config(config).episode
    assert episode.limits.max_turns == 30 and episode.limits.max_context_tokens == 10_000 and episode.early_stop
    assert rollout.prompt_length + rollout.response_length >= 10_000
    assert get_dataset_class(config.data) is CM2ChecklistDataset


def test_small_variant() -> None:
    config = composed(["variant=small"])
    assert config.actor_rollout_ref.rollout.n == 8 and config.data.train_batch_size == 4
    assert config.trainer.n_gpus_per_node == 2 and config.actor_rollout_ref.rollout.tensor_model_parallel_size == 1
    assert rollout_config(config).episode.limits.max_context_tokens == 6144
    assert reward_config(config.algorithm).level == "trajectory"


def test_environment_fills_in_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CM2_JUDGE_URL", "http://judge:9000/v1")
    monkeypatch.setenv("CM2_NNODES", "4")
    config = composed()
    assert rollout_config(config).judge.llm.base_urls == ["http://judge:9000/v1"]  # type: ignore[union-attr]
    assert config.trainer.nnodes == 4


def fake_command(tmp_path: Path, name: str) -> Path:
    """An executable that prints its arguments one per line."""
    path = tmp_path / name
    path.write_text("#!/usr/bin/env bash\nprintf '%s\\n' \"$@\"\n")
    path.chmod(0o755)
    return path


def script_arguments(script: str, env: dict[str, str], *overrides: str) -> list[str]:
    """What the launch script `script` runs under `env` (its commands faked to print their arguments, one a line)."""
    done = subprocess.run(
        ["bash", str(SCRIPTS / script), *overrides], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def test_single_node_script_overrides(tmp_path: Path) -> None:
    python = fake_command(tmp_path, "python")
    env = {
        **os.environ,
        "PYTHON": str(python),
        "CM2_TRAIN_FILES": "/data/train.parquet",
        "CM2_POLICY": "/models/sft",
        "CM2_JUDGE_URL": "http://127.0.0.1:8001/v1",
        "CM2_GPUS_PER_NODE": "4",
        "CM2_VARIANT": "small",
    }
    lines = script_arguments("run_single_node.sh", env, "algorithm.cm2.level=turn")
    assert lines[:2] == ["-m", "cm2.integrations.verl"]  # the plugin check runs first
    start = lines.index("verl.trainer.main_ppo")
    assert lines[start + 1 : start + 3] == [f"--config-path={CONFIGS}", "--config-name=cm2_grpo"]
    config = composed(lines[start + 3 :])
    assert config.data.train_files == config.data.val_files == "/data/train.parquet"
    assert config.actor_rollout_ref.model.path == "/models/sft" and config.trainer.n_gpus_per_node == 4
    assert config.cm2.judge.llm.base_urls == ["http://127.0.0.1:8001/v1"] == config.cm2.simulator.llm.base_urls
    assert config.actor_rollout_ref.rollout.n == 8 and reward_config(config.algorithm).level == "turn"


def test_ray_cluster_script_overrides(tmp_path: Path) -> None:
    fake_command(tmp_path, "ray")
    env = {
        **os.environ,
        "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
        "RAY_ADDRESS": "http://head:8265",
        "CM2_TRAIN_FILES": "/shared/train.parquet",
        "CM2_VAL_FILES": "/shared/val.parquet",
        "CM2_POLICY": "/shared/sft",
        "CM2_JUDGE_URL": "http://judge:8001/v1",
        "CM2_NNODES": "4",
    }
    lines = script_arguments("run_ray_cluster.sh", env, "trainer.total_training_steps=50")
    assert lines[:3] == ["job", "submit", "--address=http://head:8265"]
    assert lines[3] == f'--runtime-env-json={{"working_dir": "{CONFIGS}"}}'
    assert lines[4:6] == ["--", "bash"] and lines[6] == "-c"
    words = shlex.split(lines[7])
    assert words[:5] == ["python3", "-m", "verl.trainer.main_ppo", "--config-path=$PWD", "--config-name=cm2_grpo"]
    config = composed(words[5:])
    assert (config.data.train_files, config.data.val_files) == ("/shared/train.parquet", "/shared/val.parquet")
    assert config.trainer.nnodes == 4 and config.trainer.total_training_steps == 50
    assert config.cm2.judge.llm.base_urls == ["http://judge:8001/v1"]
    missing = subprocess.run(
        ["bash", str(SCRIPTS / "run_ray_cluster.sh")], env={**env, "CM2_POLICY": ""}, text=True, capture_output=True
    )
    assert missing.returncode != 0 and "CM2_POLICY" in missing.stderr
