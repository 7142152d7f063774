"""Dialogues and scripted annotators shared by the annotation tests."""

from __future__ import annotations

import json
from typing import Any

from cm2.annotate.reference import label_from_reference
from cm2.schema import Dialogue
from cm2.testing import tool_spec


def tool(name: str, **params: str) -> dict[str, Any]:
    """A tool whose parameters are all required, each of the given JSON type."""
    return tool_spec(name, {p: {"type": kind} for p, kind in params.items()}, list(params), f"{name} tool")


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def assistant(thinking: str, *calls: dict[str, Any], reply: str = "") -> dict[str, Any]:
    content = f"<think>\n{thinking}\n</think>" + (f"\n\n{reply}" if reply else "")
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = list(calls)
    return message


def result(call_id: str, value: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(value)}


def multi_call_dialogue() -> Dialogue:
    """One turn with value flow: search → book (flight id) → pay (price from search, ref from booking);
    a weather lookup runs in parallel with the search and an echoed city is known from the user."""
    messages = [
        {"role": "system", "content": "You are a travel agent."},
        {
            "role": "user",
            "content": "Book me the cheapest flight from Oslo to Paris on 2025-05-02 for Ann Lee, and "
            "tell me the weather in Paris.",
        },
        assistant(
            "Search flights and weather at once.",
            call("c1", "search_flights", origin="Oslo", destination="Paris", date="2025-05-02"),
            call("c2", "get_weather", city="Paris"),
        ),
        result(
            "c1",
            {
                "destination": "Paris",
                "flights": [{"id": "FL-208", "price": 412.5, "seats": 3}, {"id": "FL-311", "price": 530, "seats": 9}],
            },
        ),
        result("c2", {"city": "Paris", "forecast": "sunny", "high_c": 21}),
        assistant("FL-208 is cheapest; book it.", call("c3", "book_flight", flight_id="FL-208", passenger="Ann Lee")),
        result("c3", {"status": "held", "booking_ref": "BK77X1", "amount_due": 412.5}),
        assistant(
            "Pay the held booking, and find hotels in Paris.",
            call("c4", "pay", booking_ref="BK77X1", amount=412.5),
            call("c5", "find_hotels", city="Paris", max_results=3),
        ),
        result("c4", {"paid": True, "receipt": 9921}),
        result("c5", {"hotels": [{"name": "Hôtel Lumière", "hotel_id": 17}]}),
        assistant("Summarise.", reply="Booked FL-208 (ref BK77X1, 412.50 EUR paid). Paris will be sunny, 21°C."),
        {"role": "user", "content": "Great, reserve that hotel for me."},
        assistant(
            "Use hotel id 17 from the earlier search.", call("c6", "reserve_hotel", hotel_id="17", guest="Ann Lee")
        ),
        result("c6", {"reservation": {"code": "R-5531", "items": [{"sku": "ROOM-DBL"}]}}),
        assistant("Confirm extras.", call("c7", "add_extra", reservation="R-5531", items=[{"sku": "ROOM-DBL"}])),
        result("c7", {"ok": True}),
        assistant("Done.", reply="Reserved Hôtel Lumière, code R-5531."),
    ]
    tools = [
        tool("search_flights", origin="string", destination="string", date="string"),
        tool("get_weather", city="string"),
        tool("book_flight", flight_id="string", passenger="string"),
        tool("pay", booking_ref="string", amount="number"),
        tool("find_hotels", city="string", max_results="integer"),
        tool("reserve_hotel", hotel_id="string", guest="string"),
        tool("add_extra", reservation="string", items="array"),
    ]
    return Dialogue.model_validate({"uuid": "trip-1", "messages": messages, "tools": tools})


def synthetic_dialogue(n: int) -> Dialogue:
    """A small two-turn dialogue; its user text carries the unique marker `order #{n}`."""
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
    tools = [tool("track_order", order_id="string"), tool("cancel_order", order_id="string")]
    return Dialogue.model_validate({"uuid": f"syn-{n:04d}", "messages": messages, "tools": tools})


def answer_for(dialogue: Dialogue) -> dict[str, Any]:
    """A valid annotator answer for `dialogue` (the deterministic checklist, in the requested JSON shape)."""
    checklist = label_from_reference(dialogue).checklists[0]
    return {"turns": [{"turn": t, "items": turn.dump_items()} for t, turn in enumerate(checklist)]}


def prompt_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages)


def find_dialogue(messages: list[dict[str, Any]], dialogues: list[Dialogue]) -> Dialogue:
    """The dialogue a labeling prompt is about (by its first user message)."""
    text = prompt_text(messages)
    for dialogue in dialogues:
        if (dialogue.turns()[0].user.content or "") in text:
            return dialogue
    raise LookupError("the prompt names none of the known dialogues")
