"""The plugin loads through VeRL's `verl.plugins` entry points in a fresh process, and says so loudly
when a part does not register (VeRL itself would only log the failure at DEBUG)."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("verl")

from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY
from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY

import cm2.integrations.verl as plugin
from cm2.integrations.verl.__main__ import main

PROBE = """
import json, sys
import verl  # nothing of cm2 is imported before this line
loaded = "cm2.integrations.verl" in sys.modules
from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
from verl.trainer.ppo.core_algos import get_adv_estimator_fn
from verl.trainer.ppo.v1 import get_trainer_cls
print(json.dumps({
    "loaded": loaded,
    "agent_loop": _agent_loop_registry.get("cm2_agent"),
    "estimator": get_adv_estimator_fn("cm2_checklist").__module__,
    "trainers": {
        name: get_trainer_cls(name).__name__ for name in ("cm2_sync", "cm2_colocate_async", "cm2_separate_async")
    },
}))
"""


def declares_entry_point() -> bool:
    entry_points = importlib.metadata.distribution("cm2").entry_points
    return any(ep.group == "verl.plugins" and ep.value == "cm2.integrations.verl" for ep in entry_points)


def test_cm2_distribution_declares_the_entry_point() -> None:
    """pyproject.toml: [project.entry-points."verl.plugins"] cm2 = "cm2.integrations.verl" (then reinstall)."""
    assert declares_entry_point()


def test_plugin_loads_by_entry_point_in_a_fresh_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERL_USE_EXTERNAL")}
    if not declares_entry_point():  # still test the mechanism, with the same declaration on the path
        info = tmp_path / "cm2_verl_plugin_probe-0.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cm2-verl-plugin-probe\nVersion: 0.0\n")
        (info / "entry_points.txt").write_text("[verl.plugins]\ncm2 = cm2.integrations.verl\n")
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {
        "loaded": True,
        "agent_loop": {"_target_": "cm2.integrations.verl.agent_loop.CM2AgentLoop"},
        "estimator": "cm2.integrations.verl.advantage",
        "trainers": {
            "cm2_sync": "CM2PPOTrainerSync",
            "cm2_colocate_async": "CM2PPOTrainerColocateAsync",
            "cm2_separate_async": "CM2PPOTrainerSeparateAsync",
        },
    }
    assert "NOT registered" not in done.stderr


def test_every_part_registered_in_this_process() -> None:
    assert plugin.status() == {"agent_loop": True, "estimator": True, "trainers": True}
    assert plugin.errors() == {}


def test_a_part_that_does_not_register_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delitem(TRAINER_REGISTRY, "cm2_sync")  # the module is imported already: nothing re-adds it
    monkeypatch.delitem(ADV_ESTIMATOR_REGISTRY, "cm2_checklist")

    def broken() -> None:
        raise ImportError("No module named 'transfer_queue'")

    monkeypatch.setitem(plugin._REGISTRARS, "estimator", broken)
    with caplog.at_level(logging.WARNING, logger="cm2.integrations.verl"):
        found = plugin.register_all()
    assert found == {"agent_loop": True, "estimator": False, "trainers": False}
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "estimator part is NOT registered (ImportError: No module named 'transfer_queue')" in m for m in messages
    )
    assert any("trainers part is NOT registered (not found in VeRL's registry after import)" in m for m in messages)
    assert plugin.errors() == {"estimator": "ImportError: No module named 'transfer_queue'"}
    monkeypatch.undo()
    assert plugin.register_all() == {"agent_loop": True, "estimator": True, "trainers": True}


def test_check_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main() == 0
    out = capsys.readouterr().out
    assert "verl 0.9" in out
    assert all(f"{part:11s} ok" in out for part in plugin.PARTS)
