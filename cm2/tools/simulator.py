"""The hybrid tool simulator: replay what the reference recorded, check the rest, let an LLM write the others."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field

from cm2.llm.config import LLMConfig
from cm2.llm.protocol import ChatRequest, LLMClient, Usage
from cm2.schema import Dialogue, ToolCall, ToolSpec
from cm2.tools.canonical import call_key
from cm2.tools.prompt import Exchange, simulation_messages
from cm2.tools.recorded import RecordedIndex
from cm2.tools.result import ERROR_KEY, ToolResult, error_result
from cm2.tools.schema_check import schema_violation

_MAX_LISTED_TOOLS = 20


class SimulatorConfig(BaseModel):
    """How the simulator asks its LLM."""

    max_attempts: Annotated[int, Field(ge=1, description="LLM calls per simulated answer before giving up.")] = 3
    example_char_budget: Annotated[
        int, Field(ge=0, description="Characters of recorded tool I/O shown as examples.")
    ] = 8000
    history_char_budget: Annotated[
        int, Field(ge=0, description="Characters of this episode's earlier simulated answers shown.")
    ] = 4000
    temperature: Annotated[float | None, Field(description="Sampling temperature of the first attempt.")] = 0.0
    retry_temperature: Annotated[float | None, Field(description="Sampling temperature of later attempts.")] = 0.7
    max_tokens: Annotated[int | None, Field(ge=1, description="Most tokens a simulated answer may take.")] = 1024
    seed: Annotated[int, Field(description="Seed of the first attempt; attempt k uses seed + k - 1.")] = 0
    llm: Annotated[
        LLMConfig | None, Field(description="The simulator's endpoint; None: recorded and checked answers only.")
    ] = None


@dataclass(frozen=True)
class ToolBook:
    """What a dialogue's episodes share: tool specs, recorded calls, examples (built once per dialogue)."""

    specs: dict[str, ToolSpec]
    recorded: RecordedIndex
    examples: list[Exchange]
    output_schemas: dict[str, dict[str, Any]]

    @classmethod
    def from_dialogue(cls, dialogue: Dialogue) -> ToolBook:
        recorded = RecordedIndex.from_dialogue(dialogue)
        examples = [Exchange(c.tool, c.arguments, c.response) for c in recorded.calls]
        specs = {tool.name: tool for tool in dialogue.tools}
        return cls(specs, recorded, examples, {name: _output_schema(recorded, name) for name in specs})


def _output_schema(recorded: RecordedIndex, tool: str) -> dict[str, Any]:
    """An object, unless every recorded answer of this tool is a JSON array."""
    kinds = set()
    for call in recorded.for_tool(tool):
        try:
            kinds.add(type(json.loads(call.response)).__name__)
        except json.JSONDecodeError:
            kinds.add("text")
    return {"type": "array"} if kinds == {"list"} else {"type": "object"}


def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def _has_reserved_key(value: Any) -> bool:
    if isinstance(value, dict):
        return ERROR_KEY in value or any(_has_reserved_key(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_reserved_key(v) for v in value)
    return False


class HybridToolSimulator:
    """A tool environment for one episode on one reference dialogue.

    Order of decisions for a call: unknown tool → error; arguments not a JSON object → error; same tool and
    canonical arguments as a recorded call → the recorded answer (several recorded answers: in order, then
    the last); arguments violating the tool's schema → error; otherwise an LLM writes the answer. Within an
    episode a repeated call gets the answer it got before. Nothing the model wrote is ever executed.
    """

    def __init__(
        self,
        dialogue: Dialogue | ToolBook,
        llm: LLMClient | None = None,
        config: SimulatorConfig | None = None,
    ):
        self.book = dialogue if isinstance(dialogue, ToolBook) else ToolBook.from_dialogue(dialogue)
        self.llm = llm
        self.config = config or SimulatorConfig()
        self.usage = Usage()
        self.history: list[Exchange] = []
        self._seen: dict[str, int] = defaultdict(int)
        self._memo: dict[str, ToolResult] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def tools(self) -> list[ToolSpec]:
        return list(self.book.specs.values())

    def new_episode(self) -> HybridToolSimulator:
        """A fresh simulator for another episode of the same dialogue (shares the immutable parts)."""
        return HybridToolSimulator(self.book, self.llm, self.config)

    async def call(self, tool_call: ToolCall) -> ToolResult:
        name = tool_call.name
        spec = self.book.specs.get(name)
        if spec is None:
            names = sorted(self.book.specs)
            listed = ", ".join(names[:_MAX_LISTED_TOOLS]) + (", …" if len(names) > _MAX_LISTED_TOOLS else "")
            return error_result("unknown_tool", f"no tool named {name!r}; available: {listed or '(none)'}", name)
        try:
            arguments = tool_call.function.parsed_arguments()
        except ValueError as exc:
            return error_result("invalid_arguments", str(exc), name)
        key = call_key(name, arguments)
        occurrence = self._seen[key]
        self._seen[key] += 1
        recorded = self.book.recorded.response(key, occurrence)
        if recorded is not None:
            return ToolResult(content=recorded, source="replayed")
        async with self._locks[key]:
            if key in self._memo:
                return self._memo[key].model_copy(update={"memoized": True, "usage": Usage(), "attempts": 0})
            violation = schema_violation(spec.function.parameters, arguments)
            if violation is not None:
                result = error_result("schema_violation", violation, name)
            else:
                result = await self._simulate(spec, arguments)
                self.usage = self.usage + result.usage
                if result.is_error:  # a failed simulation may succeed when asked again
                    return result
                self.history.append(Exchange(name, arguments, result.content))
            self._memo[key] = result
            return result

    def _request(self, messages: list[dict[str, str]], tool: str, attempt: int) -> ChatRequest:
        cfg = self.config
        return ChatRequest(
            messages=messages,
            json_schema=self.book.output_schemas[tool],
            temperature=cfg.temperature if attempt == 1 else cfg.retry_temperature,
            max_tokens=cfg.max_tokens,
            seed=cfg.seed + attempt - 1,
        )

    async def _simulate(self, spec: ToolSpec, arguments: dict[str, Any]) -> ToolResult:
        if self.llm is None:
            return error_result(
                "simulation_failed", "this call was not recorded and no simulator LLM is set", spec.name
            )
        messages = simulation_messages(
            spec,
            arguments,
            self.book.examples,
            self.history,
            example_budget=self.config.example_char_budget,
            history_budget=self.config.history_char_budget,
        )
        usage, problem = Usage(), ""
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                response = await self.llm.chat(self._request(messages, spec.name, attempt))
            except Exception as exc:  # any backend failure is one failed attempt, never a crashed episode
                problem = f"{type(exc).__name__}: {exc}"
                continue
            usage = usage + response.usage
            value = response.parsed
            if value is None:
                try:
                    value = json.loads(response.text)
                except json.JSONDecodeError:
                    problem = "the answer is not JSON"
                    continue
            wanted = self.book.output_schemas[spec.name]["type"]
            if not isinstance(value, dict if wanted == "object" else list):
                problem = f"the answer is a JSON {_json_kind(value)}, not an {wanted}"
            elif _has_reserved_key(value):
                problem = f"the answer uses the reserved key {ERROR_KEY!r}"
            else:
                content = json.dumps(value, ensure_ascii=False)
                return ToolResult(content=content, source="simulated", usage=usage, attempts=attempt)
        attempts = self.config.max_attempts
        message = f"no usable simulated answer after {attempts} attempt(s); last problem: {problem}"
        return error_result("simulation_failed", message, spec.name, usage=usage, attempts=attempts)
