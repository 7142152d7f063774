"""cm2 as a VeRL (>= 0.9.1, < 0.10) plugin: no fork, loaded by `import verl` in every process.

Install with the `verl` extra; the package's `verl.plugins` entry point names this module, and VeRL
imports it at `import verl` in the driver, the task runner, and every agent-loop and reward worker.
Importing it registers:

- the agent loop `cm2_agent` (`actor_rollout_ref.rollout.agent.default_agent_loop=cm2_agent`),
- the advantage estimator `cm2_checklist` (`algorithm.adv_estimator=cm2_checklist`),
- the v1 trainers `cm2_sync`, `cm2_colocate_async`, `cm2_separate_async` (`trainer.v1.trainer_mode`).

VeRL swallows plugin import errors at DEBUG level, so this module never raises: each part registers
on its own and a failure is logged as a WARNING naming the part and the cause. `status()` reports
what is registered; `python -m cm2.integrations.verl` prints it and exits non-zero when a part is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cm2.integrations.verl.config import AGENT_NAME, ESTIMATOR_NAME, TRAINER_NAMES

logger = logging.getLogger(__name__)

PARTS = ("agent_loop", "estimator", "trainers")
"""The parts of the plugin, registered independently."""

_errors: dict[str, str] = {}


def _register_agent_loop() -> None:
    import cm2.integrations.verl.agent_loop  # noqa: F401  (registers on import)


def _register_estimator() -> None:
    from cm2.integrations.verl.advantage import register

    register()


def _register_trainers() -> None:
    import cm2.integrations.verl.trainer  # noqa: F401  (registers on import)


_REGISTRARS: dict[str, Callable[[], None]] = {
    "agent_loop": _register_agent_loop,
    "estimator": _register_estimator,
    "trainers": _register_trainers,
}


def status() -> dict[str, bool]:
    """Which of cm2's names VeRL's registries hold right now."""
    found = dict.fromkeys(PARTS, False)
    try:
        from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

        found["agent_loop"] = AGENT_NAME in _agent_loop_registry
    except Exception:  # report, never raise
        pass
    try:
        from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY

        found["estimator"] = ESTIMATOR_NAME in ADV_ESTIMATOR_REGISTRY
    except Exception:
        pass
    try:
        from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY

        found["trainers"] = all(name in TRAINER_REGISTRY for name in TRAINER_NAMES)
    except Exception:
        pass
    return found


def errors() -> dict[str, str]:
    """Why a part failed to register (part -> error), empty when all went well."""
    return dict(_errors)


def register_all() -> dict[str, bool]:
    """Register every part, log a WARNING for each one that fails or is still missing; returns `status()`."""
    for part, registrar in _REGISTRARS.items():
        try:
            registrar()
            _errors.pop(part, None)
        except Exception as exc:  # VeRL would hide it; make it loud instead
            _errors[part] = f"{type(exc).__name__}: {exc}"
    found = status()
    for part, ok in found.items():
        if not ok:
            reason = _errors.get(part, "not found in VeRL's registry after import")
            logger.warning(
                "cm2 VeRL plugin: the %s part is NOT registered (%s). Runs that name it will fail; "
                "check that `verl[verl-core]>=0.9.1,<0.10` is installed in this environment.",
                part,
                reason,
            )
    return found


register_all()

__all__ = ["AGENT_NAME", "ESTIMATOR_NAME", "PARTS", "TRAINER_NAMES", "errors", "register_all", "status"]
