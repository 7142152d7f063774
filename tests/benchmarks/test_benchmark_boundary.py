"""Benchmarks are plug-ins: cm2's core packages never name one, and the benchmark's own commands do not
pull in the demo."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import cm2

CORE = ("schema", "data", "llm", "annotate", "tools", "judge", "reward", "rollout", "train", "eval", "report")
# Tool environments are chosen by registered name (BFCL registers through an entry point): no exception left.
PENDING_REGISTRY: set[str] = set()
BENCHMARK_NAME = re.compile(r"bfcl|tau2|τ²", re.IGNORECASE)


def _core_files() -> list[Path]:
    root = Path(cm2.__file__).parent
    return [path for package in CORE for path in sorted((root / package).rglob("*.py"))]


def test_core_packages_do_not_import_benchmarks() -> None:
    root = Path(cm2.__file__).parent
    importers = set()
    for path in _core_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if any(name.startswith("cm2.benchmarks") for name in names):
                importers.add(path.relative_to(root).as_posix())
    assert importers <= PENDING_REGISTRY


def test_core_packages_do_not_name_benchmarks() -> None:
    root = Path(cm2.__file__).parent
    naming = {
        path.relative_to(root).as_posix()
        for path in _core_files()
        if BENCHMARK_NAME.search(path.read_text(encoding="utf-8"))
    }
    assert naming <= PENDING_REGISTRY


def test_bfcl_import_command_does_not_load_the_demo() -> None:
    """BFCL's import and its `cm2 data import-bfcl` command need nothing from the demo. (The `cm2` app as a whole
    does load the demo's settings model: `cm2 experiment` generates its flags from `ExperimentConfig`.)"""
    script = (
        "import sys; import cm2.benchmarks.bfcl.data; print(sorted(m for m in sys.modules if m.startswith('cm2.demo')))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
    command = Path(cm2.__file__).parent / "cli" / "data_import_bfcl.py"
    imported = {
        node.module or "" for node in ast.walk(ast.parse(command.read_text())) if isinstance(node, ast.ImportFrom)
    }
    assert imported and not any(module.startswith("cm2.demo") for module in imported), imported
