"""Judges chosen by name (`kind:` of a judge config): each builds a judge from an LLM client and the config.

The built-in `checklist` is `ChecklistJudge`; a variant (another prompt, another vote rule) subclasses it and
registers with `@register_judge("name")` or through the entry-point group `cm2.judges`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cm2.registry import Registry

if TYPE_CHECKING:
    from cm2.judge.config import JudgeConfig
    from cm2.judge.judge import ChecklistJudge
    from cm2.llm.protocol import LLMClient

JudgeBuilder = Callable[["LLMClient", "JudgeConfig"], "ChecklistJudge"]

JUDGES: Registry[JudgeBuilder] = Registry("judge", group="cm2.judges")
JUDGES.register_lazy("checklist", "cm2.judge.judge:ChecklistJudge")


def register_judge(name: str) -> Callable[[JudgeBuilder], JudgeBuilder]:
    """Register a judge builder under `name` (the value of a judge config's `kind:`)."""
    return JUDGES.register(name)


def judge_name(name: str) -> str:
    """`name` when a judge is registered under it (a pydantic validator for `kind:`)."""
    return JUDGES.check(name)
