"""Tool environments chosen by name: the registry, what a builder is given, and the built-in `simulated`.

A registered builder takes an `EnvironmentContext` and returns a factory making a fresh environment per episode
of a dialogue. Register one with `@register_environment("name")`; an installed plug-in (a benchmark's real
backends, say) registers through the entry-point group `cm2.environments` and is imported only when chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field

from cm2.llm.factory import make_client
from cm2.llm.protocol import LLMClient
from cm2.llm.usage import UsageMeter
from cm2.registry import Registry
from cm2.schema import Dialogue
from cm2.tools.environment import ToolEnvironment
from cm2.tools.simulator import HybridToolSimulator, SimulatorConfig, ToolBook

DialogueEnvironments = Callable[[Dialogue], ToolEnvironment]
"""Makes a fresh tool environment for one episode of a dialogue."""


@dataclass(frozen=True)
class EnvironmentContext:
    """What a tool-environment builder may use: the simulator's settings with its endpoint `simulator.llm` (its
    client is built only when a builder asks for it), and the meter recording LLM usage."""

    simulator: SimulatorConfig
    meter: UsageMeter | None = None

    def simulator_client(self) -> LLMClient | None:
        """A client for the simulator's endpoint (role `tool_simulator`); None when none is configured."""
        if self.simulator.llm is None:
            return None
        return make_client(self.simulator.llm, role="tool_simulator", meter=self.meter)


EnvironmentBuilder = Callable[[EnvironmentContext], DialogueEnvironments]

ENVIRONMENTS: Registry[EnvironmentBuilder] = Registry("tool environment", group="cm2.environments")


def register_environment(name: str) -> Callable[[EnvironmentBuilder], EnvironmentBuilder]:
    """Register a tool-environment builder under `name` (the value of a config's `tools:`)."""
    return ENVIRONMENTS.register(name)


def environment_name(name: str) -> str:
    """`name` when a tool environment is registered under it (a pydantic validator for `tools:` fields)."""
    return ENVIRONMENTS.check(name)


EnvironmentName = Annotated[
    str,
    AfterValidator(environment_name),
    Field(description="The registered tool environment: simulated, or one a plug-in registers."),
]
"""The type of a config's `tools:` field."""


def simulator_factory(llm: LLMClient | None, config: SimulatorConfig | None = None) -> DialogueEnvironments:
    """A fresh hybrid simulator per episode (recorded calls and examples built once per dialogue)."""
    books: dict[str, ToolBook] = {}

    def make(dialogue: Dialogue) -> ToolEnvironment:
        book = books.get(dialogue.uuid)
        if book is None:
            book = books[dialogue.uuid] = ToolBook.from_dialogue(dialogue)
        return HybridToolSimulator(book, llm, config)

    return make


@register_environment("simulated")
def simulated_environments(context: EnvironmentContext) -> DialogueEnvironments:
    """The hybrid simulator: recorded answers replayed, the rest written by the simulator's LLM (if any)."""
    return simulator_factory(context.simulator_client(), context.simulator)
