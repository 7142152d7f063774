"""A dialogue with value flow between its tool calls, for the annotation tests (the rest is in
`cm2.testing.annotation`)."""

from __future__ import annotations

from typing import Any

from cm2.schema import Dialogue
from cm2.testing import tool_spec
from cm2.testing.messages import assistant, call, result


def tool(name: str, **params: str) -> dict[str, Any]:
    """A tool whose parameters are all required, each of the given JSON type."""
    return tool_spec(name, {p: {"type": kind} for p, kind in params.items()}, list(params), f"{name} tool")


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
