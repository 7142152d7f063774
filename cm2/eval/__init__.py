"""Evaluation and serving of trained policies.

- `evaluate_checklist`: held-out dialogues through cm2's episode runner, scored with their checklists;
- `serve_checkpoint` / `served_checkpoint`: a checkpoint behind cm2's OpenAI-compatible app (`cm2 serve`).

Benchmarks with their own harness live in `cm2.benchmarks` and report through the same types.
Every evaluation returns an `EvalResult`, written as `<benchmark>.json` and `<benchmark>.md`.
See cm2/eval/README.md, and each benchmark's README for the route it takes.
"""

from typing import Any

from cm2.eval.checklist import ChecklistEvalConfig, evaluate_checklist, simulator_factory
from cm2.eval.checkpoint import CheckpointGenerator
from cm2.eval.results import CategoryScore, CostReport, EvalResult

_SERVING = {"serve_checkpoint", "served_checkpoint"}


def __getattr__(name: str) -> Any:
    # The server (starlette, uvicorn) loads only when asked for, so that evaluating or training,
    # which import cm2.eval's other modules, does not need the web stack.
    if name in _SERVING:
        from cm2.eval import serve

        return getattr(serve, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CategoryScore",
    "ChecklistEvalConfig",
    "CheckpointGenerator",
    "CostReport",
    "EvalResult",
    "evaluate_checklist",
    "serve_checkpoint",
    "served_checkpoint",
    "simulator_factory",
]
