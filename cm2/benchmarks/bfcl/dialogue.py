"""One BFCL-V4 multi-turn entry as a cm2 reference dialogue, with real tool outputs.

The entry's ground-truth calls are executed on BFCL's own backends (`cm2.benchmarks.bfcl.environment.BfclEnvironment`),
one call per assistant step in the recorded order, so every tool message holds what the backend really
returned in the state the earlier calls left. Each turn: the user message, then per call an assistant
step (a `<think>` plan and the call as an OpenAI tool call with JSON arguments) answered by its tool
message, then a short visible reply (`cm2.benchmarks.bfcl.texts`). The checklist comes from the reference calls
(`cm2.annotate.reference`): one machine-checkable item per call, and the code-checked turn-end items (a
visible reply, a call budget, BFCL's state check after the turn; `cm2.annotate.turn_items`).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

from cm2.annotate.config import ReferenceLabelConfig
from cm2.annotate.reference import label_from_reference
from cm2.annotate.turn_items import STATE_MARKER
from cm2.benchmarks.bfcl.split import split_of
from cm2.benchmarks.bfcl.texts import call_content, reply_content
from cm2.schema import Dialogue, FunctionSpec, Message, ToolSpec

ToolDocs = Literal["full", "compact"]
_KEEP_IN_COMPACT = ("type", "items", "enum", "properties", "required", "additionalProperties")
_SENTENCE = re.compile(r"(.+?[.!?])(\s|$)", re.DOTALL)


class UnsupportedEntry(ValueError):
    """An entry that cannot become a reference dialogue (the message says why)."""


def _first_sentence(description: str) -> str:
    # BFCL prefixes each description with a sentence about its class, then "Tool description: ...".
    text = description.split("Tool description:", 1)[-1].strip()
    match = _SENTENCE.match(text)
    return (match.group(1) if match else text).strip()


def _compact_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_compact_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _compact_schema(prop) for name, prop in value.items()}
        elif key in _KEEP_IN_COMPACT:
            out[key] = _compact_schema(value) if key in ("items", "additionalProperties") else value
    return out


def compact_spec(spec: ToolSpec) -> ToolSpec:
    """`spec` with its description cut to the tool's own first sentence, parameter descriptions and
    the response schema left out: about a third of the prompt tokens, the same names, types and
    required arguments (so the same calls validate)."""
    function = FunctionSpec(
        name=spec.name,
        description=_first_sentence(spec.function.description or ""),
        parameters=_compact_schema(spec.function.parameters),
    )
    return ToolSpec(type="function", function=function)


def _tools(entry: dict[str, Any], docs: ToolDocs) -> tuple[Any, list[ToolSpec]]:
    from cm2.benchmarks.bfcl.environment import BfclEnvironment

    if entry.get("missed_function"):
        raise UnsupportedEntry(
            f"{entry.get('id')}: withholds functions until a later turn (multi_turn_miss_func); a cm2 dialogue has "
            "one tool list for all turns, so its 'cannot do this yet' turns would contradict the tools shown"
        )
    env = BfclEnvironment(entry)
    specs = [compact_spec(s) for s in env.tools] if docs == "compact" else env.tools
    return env, distinguish_twins(specs)


def distinguish_twins(specs: list[ToolSpec]) -> list[ToolSpec]:
    """Tools whose spec repeats an earlier tool's under another name (BFCL's vehicle API offers two identical
    temperature readers) get a note naming their twin, so the duplicate-tools rule does not drop the dialogue."""
    seen: dict[str, str] = {}
    out: list[ToolSpec] = []
    for spec in specs:
        body = spec.function.model_dump_json(exclude={"name"})
        twin = seen.setdefault(body, spec.name)
        if twin != spec.name:
            note = f"{spec.function.description or ''} (Equivalent to `{twin}`.)".strip()
            spec = ToolSpec(type="function", function=spec.function.model_copy(update={"description": note}))
        out.append(spec)
    return out


async def _execute(env: Any, entry_id: str, ground_truth: list[list[str]], questions: list[Any]) -> list[Message]:
    messages: list[Message] = []
    for turn, (asked, calls) in enumerate(zip(questions, ground_truth, strict=True)):
        if len(asked) != 1 or asked[0].get("role") != "user":
            raise UnsupportedEntry(f"{entry_id}: turn {turn} is not one user message")
        messages.append(Message(role="user", content=str(asked[0]["content"])))
        parsed = [env.parse_call(text) for text in calls]
        names = [call.name for call in parsed]
        for position, (text, call) in enumerate(zip(calls, parsed, strict=True)):
            call.id = f"call_{turn}_{position}"
            result = await env.call(call)
            if result.is_error:
                raise UnsupportedEntry(f"{entry_id}: turn {turn}, ground-truth call {text!r} failed: {result.content}")
            messages.append(Message(role="assistant", content=call_content(names, position), tool_calls=[call]))
            messages.append(Message(role="tool", content=result.content, tool_call_id=call.id, name=call.name))
        messages.append(Message(role="assistant", content=reply_content(names)))
    return messages


def entry_to_dialogue(
    entry: dict[str, Any],
    ground_truth: list[list[str]],
    *,
    tool_docs: ToolDocs = "full",
    labeling: ReferenceLabelConfig | None = None,
) -> Dialogue:
    """The reference dialogue of `entry` (uuid = `bfcl_id` = the entry id) with one deterministic checklist.

    Raises `UnsupportedEntry` for miss_func entries, turns that are not one user message, and ground-truth
    calls that fail on the backends.
    """
    entry_id = str(entry["id"])
    if len(entry["question"]) != len(ground_truth):
        raise UnsupportedEntry(f"{entry_id}: {len(entry['question'])} turns but {len(ground_truth)} ground-truth turns")
    env, tools = _tools(entry, tool_docs)
    messages = asyncio.run(_execute(env, entry_id, ground_truth, entry["question"]))
    dialogue = Dialogue.model_validate(
        {
            "uuid": entry_id,
            "messages": [m.dump() for m in messages],
            "tools": [t.dump() for t in tools],
            "bfcl_id": entry_id,
            "bfcl_category": entry_id.rsplit("_", 1)[0],
            "demo_split": split_of(entry_id),
            "involved_classes": list(entry.get("involved_classes", [])),
            STATE_MARKER: True,  # BfclEnvironment reports whether its state matches the ground truth after a turn
        }
    )
    return label_from_reference(dialogue, labeling or ReferenceLabelConfig(final_reply_item=False))
