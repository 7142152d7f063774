"""The one place that turns config sections into the working parts of a run: LLM clients, tool environments and
the judge. Train, eval, the demo, the VeRL plugin and the CLI all build here.

Each part is chosen by a registered name: the tool environment by `tools:` (`cm2.tools.environments`), the LLM
client by an LLM config's `backend:` (`cm2.llm.backends`), the judge by its config's `kind:` (`cm2.judge.kinds`).
The builders take the config sections they need, never a whole run config, so every front end (a YAML run, a
VeRL `cm2` block, CLI flags) can call them.
"""

from __future__ import annotations

from cm2.judge import ChecklistJudge, JudgeConfig
from cm2.judge.kinds import JUDGES, register_judge
from cm2.llm import ChatRequest, ChatResponse, LLMClient, LLMConfig, LLMError, UsageMeter
from cm2.llm.factory import make_client
from cm2.tools import SimulatorConfig
from cm2.tools.environments import ENVIRONMENTS, DialogueEnvironments, EnvironmentContext, register_environment

__all__ = [
    "DialogueEnvironments",
    "EnvironmentContext",
    "NoEndpoint",
    "build_client",
    "build_environments",
    "build_judge",
    "register_environment",
    "register_judge",
]


class NoEndpoint:
    """The client of a role that has no endpoint configured: every request fails with a clear reason,
    so the judge records such verdicts as unavailable (never silently false)."""

    def __init__(self, role: str, hint: str | None = None):
        self.role = role
        self.hint = hint or f"set `{role}.llm` in the run config"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        raise LLMError(f"no {self.role} endpoint is configured ({self.hint})")


def build_client(config: LLMConfig | None, role: str, *, meter: UsageMeter | None = None) -> LLMClient:
    """The client of one role, by the backend its config names; a `NoEndpoint` when there is no config."""
    if config is None:
        return NoEndpoint(role)
    return make_client(config, role=role, meter=meter)


def build_environments(
    tools: str, simulator: SimulatorConfig | None = None, *, meter: UsageMeter | None = None
) -> DialogueEnvironments:
    """A fresh tool environment per episode from the environment registered as `tools` (`simulated`, or a
    plug-in's name such as `bfcl`); the simulator section (with its endpoint `simulator.llm`) is offered to
    builders that use it."""
    builder = ENVIRONMENTS.get(tools)
    return builder(EnvironmentContext(simulator or SimulatorConfig(), meter))


def build_judge(
    config: JudgeConfig,
    *,
    meter: UsageMeter | None = None,
    no_endpoint_hint: str | None = None,
    client: LLMClient | None = None,
) -> ChecklistJudge:
    """The judge `config.kind` names, over its endpoint `config.llm` (or over `client`, which the caller then
    closes); without either, items with a `check` are still decided in code and every other verdict is
    unavailable (the reason says `no_endpoint_hint`)."""
    if client is None:
        if config.llm is None:
            client = NoEndpoint("judge", no_endpoint_hint)
        else:
            client = make_client(config.llm, role="judge", meter=meter)
    return JUDGES.get(config.kind)(client, config)
