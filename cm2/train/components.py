"""Build an RL run's tool environments and judge from its config."""

from __future__ import annotations

from collections.abc import Callable

from cm2.judge import ChecklistJudge
from cm2.llm import ChatRequest, ChatResponse, LLMError
from cm2.llm.factory import make_client
from cm2.schema import Dialogue
from cm2.tools import HybridToolSimulator, ToolBook, ToolEnvironment
from cm2.train.rl_config import RLRunConfig


class NoEndpoint:
    """The client of a role that has no endpoint configured: every request fails with a clear reason,
    so the judge records such verdicts as unavailable (never silently false)."""

    def __init__(self, role: str, hint: str | None = None):
        self.role = role
        self.hint = hint or f"set `{role}.llm` in the run config"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        raise LLMError(f"no {self.role} endpoint is configured ({self.hint})")


def bfcl_entry_id(dialogue: Dialogue) -> str:
    """The BFCL entry a dialogue came from: its `bfcl_id` field, else its uuid."""
    extra = dialogue.model_extra or {}
    return str(extra.get("bfcl_id") or dialogue.uuid)


def environment_factory(config: RLRunConfig) -> Callable[[Dialogue], ToolEnvironment]:
    """A fresh tool environment per episode: the hybrid simulator or BFCL's real backends."""
    if config.tools == "bfcl":
        from cm2.tools.bfcl import BfclEnvironment

        return lambda dialogue: BfclEnvironment.from_entry(bfcl_entry_id(dialogue))
    llm = make_client(config.simulator.llm, role="tool_simulator") if config.simulator.llm else None
    books: dict[str, ToolBook] = {}

    def simulator(dialogue: Dialogue) -> ToolEnvironment:
        book = books.get(dialogue.uuid)
        if book is None:
            book = books[dialogue.uuid] = ToolBook.from_dialogue(dialogue)
        return HybridToolSimulator(book, llm, config.simulator)

    return simulator


def build_judge(config: RLRunConfig) -> ChecklistJudge:
    client = make_client(config.judge.llm, role="judge") if config.judge.llm else NoEndpoint("judge")
    return ChecklistJudge(client, config.judge)
