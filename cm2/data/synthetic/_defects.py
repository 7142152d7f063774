"""Defects to inject into valid synthetic dialogues, each with the filter rule that must catch it."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

Record = dict[str, Any]

Defect = Callable[[random.Random, Record], None]


def _pick(rng: random.Random, record: Record, role: str, calls: bool | None = None) -> Record:
    """A random message of `role` (with or without tool calls when `calls` is set)."""
    found = [
        m for m in record["messages"] if m["role"] == role and (calls is None or bool(m.get("tool_calls")) == calls)
    ]
    return rng.choice(found)


def _call(rng: random.Random, record: Record) -> Record:
    return rng.choice(_pick(rng, record, "assistant", calls=True)["tool_calls"])["function"]


def _tool_of(record: Record, name: str) -> Record:
    return next(t["function"] for t in record["tools"] if t["function"]["name"] == name)


def _args_violate_schema(rng: random.Random, record: Record) -> None:
    function = _call(rng, record)
    arguments = json.loads(function["arguments"])
    del arguments[rng.choice(_tool_of(record, function["name"])["parameters"]["required"])]
    function["arguments"] = json.dumps(arguments)


def _bad_property_type(rng: random.Random, record: Record) -> None:
    properties = rng.choice(record["tools"])["function"]["parameters"]["properties"]
    properties[rng.choice(sorted(properties))] = {"type": "dict"}


def _insert_after(record: Record, message: Record, new: Record) -> None:
    messages = record["messages"]
    messages.insert(next(i for i, m in enumerate(messages) if m is message) + 1, new)


def _copy_tool(rng: random.Random, record: Record, **changes: str) -> None:
    tool = json.loads(json.dumps(rng.choice(record["tools"])))
    tool["function"].update(changes)
    record["tools"].append(tool)


def _strip_think(message: Record) -> None:
    message["content"] = message["content"].rpartition("</think>")[2].strip()


def _reply_only_think(rng: random.Random, record: Record) -> None:
    message = _pick(rng, record, "assistant", calls=False)
    message["content"] = message["content"].rpartition("</think>")[0] + "</think>"


def _remove(record: Record, message: Record) -> None:
    record["messages"] = [m for m in record["messages"] if m is not message]


_LEAKED = '{"status": "ok", "items": 3}'
_DEFECTS: dict[str, tuple[str, Defect]] = {
    "tool_missing_name": ("tool_schema", lambda rng, r: rng.choice(r["tools"])["function"].pop("name")),
    "tool_bad_parameter_type": ("tool_schema", _bad_property_type),
    "tool_required_not_in_properties": (
        "tool_schema",
        lambda rng, r: rng.choice(r["tools"])["function"]["parameters"]["required"].append("not_a_property"),
    ),
    "call_unknown_tool": ("tool_schema", lambda rng, r: _call(rng, r).update(name="no_such_tool")),
    "call_arguments_not_object": ("tool_schema", lambda rng, r: _call(rng, r).update(arguments='["a", 1]')),
    "call_arguments_invalid_json": ("tool_schema", lambda rng, r: _call(rng, r).update(arguments='{"city": ')),
    "call_arguments_violate_schema": ("tool_schema", _args_violate_schema),
    "system_not_first": (
        "role_order",
        lambda rng, r: r["messages"].insert(len(r["messages"]) - 1, {"role": "system", "content": "Be brief."}),
    ),
    "function_role": ("role_order", lambda rng, r: _pick(rng, r, "tool").update(role="function")),
    "starts_with_assistant": (
        "role_order",
        lambda rng, r: _remove(r, next(m for m in r["messages"] if m["role"] == "user")),
    ),
    "ends_without_reply": ("role_order", lambda rng, r: r["messages"].pop()),
    "consecutive_users": (
        "role_order",
        lambda rng, r: _insert_after(r, _pick(rng, r, "user"), {"role": "user", "content": "Also, one more thing."}),
    ),
    "missing_tool_response": ("tool_call_response_mismatch", lambda rng, r: _remove(r, _pick(rng, r, "tool"))),
    "extra_tool_response": (
        "tool_call_response_mismatch",
        lambda rng, r: _insert_after(r, m := _pick(rng, r, "tool"), dict(m)),
    ),
    "wrong_tool_call_id": (
        "tool_call_response_mismatch",
        lambda rng, r: _pick(rng, r, "tool").update(tool_call_id=f"call_{rng.getrandbits(40):x}x"),
    ),
    "tool_response_tags": (
        "tool_response_in_assistant",
        lambda rng, r: (m := _pick(rng, r, "assistant", False)).update(
            content=m["content"] + f"\n<tool_response>\n{_LEAKED}\n</tool_response>"
        ),
    ),
    "tool_message_in_assistant": (
        "tool_response_in_assistant",
        lambda rng, r: (m := _pick(rng, r, "assistant", False)).update(
            content=m["content"] + f'\n{{"role": "tool", "content": {json.dumps(_LEAKED)}}}'
        ),
    ),
    "tool_response_plain_text": (
        "tool_response_not_json",
        lambda rng, r: _pick(rng, r, "tool").update(content="It worked, three items found."),
    ),
    "duplicate_tool_name": ("duplicate_tools", lambda rng, r: _copy_tool(rng, r, description="Another version.")),
    "duplicate_tool_schema": ("duplicate_tools", lambda rng, r: _copy_tool(rng, r, name="same_tool_new_name")),
    "missing_think": ("think_tags", lambda rng, r: _strip_think(_pick(rng, r, "assistant"))),
    "unbalanced_think": (
        "think_tags",
        lambda rng, r: (m := _pick(rng, r, "assistant")).update(content=m["content"].replace("</think>", "", 1)),
    ),
    "redundant_think": (
        "think_tags",
        lambda rng, r: (m := _pick(rng, r, "assistant")).update(content=m["content"] + "\n<think>\nagain\n</think>"),
    ),
    "empty_think": (
        "think_tags",
        lambda rng, r: (m := _pick(rng, r, "assistant")).update(
            content="<think>\n\n</think>" + m["content"].rpartition("</think>")[2]
        ),
    ),
    "empty_reply": ("think_tags", _reply_only_think),
    "empty_user_message": ("think_tags", lambda rng, r: _pick(rng, r, "user").update(content="")),
}
DEFECTS: dict[str, str] = {name: rule for name, (rule, _) in _DEFECTS.items()}
"""Every defect name and the filter rule that must reject a dialogue carrying it."""


def inject(rng: random.Random, record: Record, defect: str) -> None:
    """Put `defect` into the valid `record`, in place."""
    _DEFECTS[defect][1](rng, record)
