"""The import contracts of pyproject.toml ([tool.importlinter]) hold, and they bite: the same check on a copy
of the package with one import pointing the wrong way fails and names the contract it breaks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cm2

ROOT = Path(cm2.__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` run in `root` (its pyproject.toml, its cm2 first on the path), without a cache."""
    command = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([*command, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("cm2/reward/levels.py", "import cm2.train.rollouts", "Packages import only the layers below them"),
        ("cm2/rollout/policy.py", "import cm2.cli", "Packages import only the layers below them"),
        ("cm2/reward/spec.py", "import yaml", "The reward math does no I/O"),
        ("cm2/judge/judge.py", "import cm2.reward", "The judge produces verdicts"),
        ("cm2/train/grpo.py", "import cm2.testing", "Production code does not import the test kits"),
    ],
)
def test_a_wrong_way_import_breaks_its_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "cm2", tmp_path / "cm2", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = result.stdout.split("Broken contracts")[1]
    assert contract in broken and module.removesuffix(".py").replace("/", ".") in broken, result.stdout
