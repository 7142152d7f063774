"""Per-process services of the agent loop: judge, tool environments, parsed dialogues.

VeRL builds a new agent-loop object for every rollout, so anything expensive or stateful across
rollouts (HTTP clients with their connection pools and concurrency limits, tool books) lives here,
one set per event loop and per `cm2` config: asyncio primitives must not cross event loops.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import socket
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cm2.build import build_environments, build_judge
from cm2.data import JsonlAppender
from cm2.integrations.verl.config import VerlRolloutConfig
from cm2.rollout.episode import StepJudge
from cm2.schema import Dialogue, ToolCall, ToolSpec
from cm2.tools import ToolEnvironment, ToolResult

logger = logging.getLogger(__name__)


@dataclass
class ToolClock:
    """Wall time spent answering tool calls (for VeRL's `tool_calls` metric)."""

    seconds: float = 0.0


class TimedEnvironment:
    """A tool environment that adds the time of each call to a clock."""

    def __init__(self, inner: ToolEnvironment, clock: ToolClock):
        self.inner = inner
        self.clock = clock

    @property
    def tools(self) -> list[ToolSpec]:
        return self.inner.tools

    async def call(self, tool_call: ToolCall) -> ToolResult:
        started = time.perf_counter()
        try:
            return await self.inner.call(tool_call)
        finally:
            self.clock.seconds += time.perf_counter() - started


@dataclass
class Services:
    """What every episode of one event loop shares."""

    make_env: Callable[[Dialogue], ToolEnvironment]
    judge: StepJudge | None


_SERVICES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Services]] = weakref.WeakKeyDictionary()


def services_for(config: VerlRolloutConfig) -> Services:
    """The shared judge and environment factory for `config` on the running event loop."""
    loop = asyncio.get_running_loop()
    per_loop = _SERVICES.setdefault(loop, {})
    key = config.model_dump_json()
    found = per_loop.get(key)
    if found is None:
        if config.judge.llm is None:
            logger.warning(
                "cm2: no judge endpoint (cm2.judge.llm): only checklist items with a `check` get verdicts, the "
                "others are recorded as unavailable"
            )
        make_env = build_environments(config.tools, config.simulator)
        judge = build_judge(config.judge, no_endpoint_hint="set `cm2.judge.llm` in the VeRL config")
        found = per_loop[key] = Services(make_env=make_env, judge=judge)
    return found


@lru_cache(maxsize=512)
def parse_dialogue(text: str) -> Dialogue:
    """A dialogue from its JSON text (cached: every rollout of a group carries the same text)."""
    return Dialogue.model_validate_json(text)


def dialogue_from_row(extra_info: Any) -> tuple[Dialogue, int]:
    """The reference dialogue and checklist index a dataset row's `extra_info` names."""
    if not isinstance(extra_info, dict) or "cm2_dialogue" not in extra_info:
        raise ValueError(
            "the row's extra_info has no `cm2_dialogue`: prepare the data with "
            "`python -m cm2.integrations.verl.prepare` or use data.custom_cls CM2ChecklistDataset"
        )
    text = extra_info["cm2_dialogue"]
    try:
        dialogue = parse_dialogue(text if isinstance(text, str) else str(text))
    except ValueError as exc:
        raise ValueError(f"dialogue {extra_info.get('cm2_uuid', '?')}: invalid cm2_dialogue\n{exc}") from exc
    checklist = int(extra_info.get("cm2_checklist", 0) or 0)
    if not 0 <= checklist < len(dialogue.checklists):
        raise ValueError(f"dialogue {dialogue.uuid}: no checklist {checklist} (it has {len(dialogue.checklists)})")
    return dialogue, checklist


_SINKS: dict[str, JsonlAppender] = {}


def trajectory_sink(folder: str) -> JsonlAppender:
    """This process's append-only trajectory file in `folder` (opened once, closed at exit)."""
    sink = _SINKS.get(folder)
    if sink is None:
        path = Path(folder) / f"trajectories-{socket.gethostname()}-{os.getpid()}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        sink = _SINKS[folder] = JsonlAppender(path, fsync_every=0).open()
        atexit.register(sink.close)
    return sink
