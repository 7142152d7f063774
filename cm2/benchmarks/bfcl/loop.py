"""BFCL-V4 multi-turn inference for one entry, mirroring `bfcl_eval`'s function-calling loop in-process.

What `BaseHandler.inference_multi_turn_FC` does (bfcl-eval 2026.3.23), step for step:
- the tools are the entry's function docs as `bfcl_eval` loads them (`load_dataset_entry`: every function
  of the involved classes, a Python-syntax hint appended to each description, held-out functions of
  `miss_func` entries removed) converted by its own `convert_to_tool` for the OpenAI chat format;
- per turn, the turn's user message is appended; on a held-out turn (its question is empty) the held-out
  docs join the tools and BFCL's own "additional functions" prompt is sent as the user message;
- per step, the model answers; its tool calls `{name: arguments}` become call strings as BFCL's
  `convert_to_function_call` writes them, but checked and rebuilt by `cm2.benchmarks.bfcl.calls` (model text
  never reaches BFCL's `eval`; a rejected call is not run and its result is an error message). An answer
  without tool calls, or one that does not decode, ends the turn; otherwise the calls run on BFCL's
  backends with `execute_multi_turn_func_call` (the same function its checker uses, so results read
  exactly as in BFCL: strings as they are, dicts as JSON, errors as "Error during execution: …") and
  each result goes back as a `tool` message with its call id;
- after more than `MAXIMUM_STEP_LIMIT` (20) steps in a turn the entry is force-terminated.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from cm2.benchmarks.bfcl.calls import CheckedCall, check_step, offered_functions
from cm2.llm import LLMError
from cm2.rollout.policy import ChatPolicy, SamplingConfig
from cm2.schema import Message, ToolSpec

StepResponse = list[dict[str, str]] | str
"""What BFCL records for one step: `[{name: arguments_json}, …]` for tool calls, else the text."""


def bfcl_module(name: str) -> ModuleType:
    """Import a module of `bfcl-eval`, with an install hint when it is missing."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(
            "BFCL evaluation needs the optional extra: pip install 'cm2[bfcl]' and "
            f"`pip install --no-deps bfcl-eval==2026.3.23` (importing {name} failed: {exc})"
        ) from exc


def compile_tools(functions: list[dict[str, Any]]) -> list[ToolSpec]:
    """BFCL function docs as the OpenAI tools BFCL's OpenAI handler sends (`convert_to_tool`)."""
    utils = bfcl_module("bfcl_eval.model_handler.utils")
    enums = bfcl_module("bfcl_eval.constants.enums")
    mapping = bfcl_module("bfcl_eval.constants.type_mappings").GORILLA_TO_OPENAPI
    tools = utils.convert_to_tool(functions, mapping, enums.ModelStyle.OPENAI_COMPLETIONS)
    return [ToolSpec.model_validate(tool) for tool in tools]


def step_limit() -> int:
    limit: int = bfcl_module("bfcl_eval.constants.default_prompts").MAXIMUM_STEP_LIMIT
    return limit


class BfclRuntime:
    """The backend instances of one entry in `bfcl_eval`'s executor, under a name no other run shares.

    `execute_multi_turn_func_call` keeps instances in its module's globals, keyed by model name and entry
    id (BFCL's CLI runs one model per process). A fresh name per entry keeps concurrent entries and
    repeated runs apart; `close()` drops the instances this entry created (for inference and checking).
    """

    def __init__(self, entry: dict[str, Any]):
        self.entry = entry
        self.name = f"cm2run_{uuid.uuid4().hex}"
        category = str(entry["id"]).rsplit("_", 1)[0]
        self.long_context = "long_context" in category or "composite" in category
        self._utils = bfcl_module("bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils")

    def execute(self, calls: list[CheckedCall]) -> list[str]:
        """Results of one step's checked calls in order; a rejected call is not executed, its result is its error."""
        if not all(isinstance(call, CheckedCall) for call in calls):
            raise TypeError("BfclRuntime.execute takes calls checked by cm2.benchmarks.bfcl.calls.check_step")
        accepted = [call.text for call in calls if not call.rejected]
        results, _ = self._utils.execute_multi_turn_func_call(
            accepted,
            self.entry.get("initial_config", {}),
            self.entry["involved_classes"],
            self.name,
            self.entry["id"],
            long_context=self.long_context,
            is_evaL_run=False,
        )
        done = iter(results)
        return [f"Error during execution: {call.error}" if call.rejected else str(next(done)) for call in calls]

    def close(self) -> None:
        namespace = vars(self._utils)
        for key in list(namespace):  # a copy: other entries add their instances concurrently
            if key.startswith(self.name + "_"):
                namespace.pop(key, None)


@dataclass
class EntryRun:
    """What the inference loop produced for one entry (BFCL's `result` plus cm2's bookkeeping)."""

    responses: list[list[StepResponse]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    force_quit: bool = False
    error: str | None = None
    steps: int = 0


def step_response(message: Message) -> StepResponse:
    """One assistant step as BFCL records it: `[{name: arguments_json}]` for calls, else the text."""
    if message.calls:
        return [
            {
                call.name: call.function.arguments
                if isinstance(call.function.arguments, str)
                else json.dumps(call.function.arguments)
            }
            for call in message.calls
        ]
    return message.content or ""


async def run_entry(
    policy: ChatPolicy, entry: dict[str, Any], sampling: SamplingConfig, runtime: BfclRuntime
) -> EntryRun:
    """Run BFCL's multi-turn function-calling protocol for `entry` (loaded by `bfcl_eval`) against `policy`."""
    prompts = bfcl_module("bfcl_eval.constants.default_prompts")
    functions = copy.deepcopy(entry["function"])
    holdout: dict[str, list[dict[str, Any]]] = entry.get("missed_function", {}) or {}
    tools = compile_tools(functions)
    offered = offered_functions(entry)
    limit = step_limit()
    run = EntryRun()
    for turn, turn_messages in enumerate(entry["question"]):
        if str(turn) in holdout:
            functions.extend(copy.deepcopy(holdout[str(turn)]))
            tools = compile_tools(functions)
            turn_messages = [{"role": "user", "content": prompts.DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC}]
        run.messages.extend(Message.model_validate(m) for m in turn_messages)
        turn_responses: list[StepResponse] = []
        run.responses.append(turn_responses)
        count = 0
        while True:
            try:
                generation = await policy.respond(run.messages, tools, sampling)
            except LLMError as exc:
                run.error = f"Error during inference: {exc}"
                return run
            assistant = generation.message or Message(role="assistant", content=generation.text)
            run.messages.append(assistant)
            response = step_response(assistant)
            turn_responses.append(response)
            run.steps += 1
            try:
                checked = check_step(response, offered)
            except ValueError:  # BFCL: a step that does not decode ends the turn
                break
            if not checked:
                break
            for result, call in zip(runtime.execute(checked), assistant.calls, strict=False):
                run.messages.append(Message(role="tool", content=result, tool_call_id=call.id))
            count += 1
            if count > limit:
                run.force_quit = True
                break
        if run.force_quit:
            break
    return run
