"""Dialogues for annotation tests and benchmarks, and what a scripted annotator model answers about them."""

from __future__ import annotations

from typing import Any

from cm2.annotate.reference import label_from_reference
from cm2.schema import Dialogue
from cm2.testing.dialogues import tool_spec
from cm2.testing.messages import assistant, call, result


def order_dialogue(n: int) -> Dialogue:
    """A small two-turn dialogue (track an order, then cancel it); its user text carries the unique marker
    `order #{n}`."""
    order = f"ORD-{n:04d}"
    messages = [
        {"role": "user", "content": f"Where is my order #{n}? The id is {order}."},
        assistant(f"Look up {order}.", call(f"a{n}", "track_order", order_id=order)),
        result(f"a{n}", {"order_id": order, "status": "shipped", "carrier": f"CARRIER-{n}"}),
        assistant("Report it.", reply=f"Order {order} has shipped with CARRIER-{n}."),
        {"role": "user", "content": f"Thanks. Cancel order #{n} anyway."},
        assistant("Cancel it.", call(f"b{n}", "cancel_order", order_id=order)),
        result(f"b{n}", {"cancelled": True}),
        assistant("Confirm.", reply=f"Order {order} is cancelled."),
    ]
    order_id = {"order_id": {"type": "string"}}
    tools = [
        tool_spec("track_order", order_id, ["order_id"], "track_order tool"),
        tool_spec("cancel_order", order_id, ["order_id"], "cancel_order tool"),
    ]
    return Dialogue.model_validate({"uuid": f"syn-{n:04d}", "messages": messages, "tools": tools})


def reference_answer(dialogue: Dialogue) -> dict[str, Any]:
    """A valid annotator answer for `dialogue`: its deterministic checklist, in the JSON shape the labeling
    prompt asks for."""
    checklist = label_from_reference(dialogue).checklists[0]
    return {"turns": [{"turn": t, "items": turn.dump_items()} for t, turn in enumerate(checklist)]}


def find_dialogue(messages: list[dict[str, Any]], dialogues: list[Dialogue]) -> Dialogue:
    """The dialogue a labeling prompt is about (by its first user message)."""
    text = "\n".join(str(m.get("content") or "") for m in messages)
    for dialogue in dialogues:
        if (dialogue.turns()[0].user.content or "") in text:
            return dialogue
    raise LookupError("the prompt names none of the known dialogues")
