"""Every rule on hand-made dialogues: records that must fail it (with the reason) and records that must pass."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from cm2.data.filters import RULE_NAMES, FilterConfig, check_record
from cm2.testing import weather_tool

Record = dict[str, Any]
Mutation = Callable[[Record], Any]

WEATHER: Record = weather_tool()
CLOCK: Record = {"type": "function", "function": {"name": "get_time", "description": "The current time."}}


def _call(call_id: str | None = "c1", name: str = "get_weather", arguments: Any = '{"city": "Oslo"}') -> Record:
    call: Record = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if call_id is not None:
        call["id"] = call_id
    return call


def base() -> Record:
    """A valid two-turn dialogue: a tool step, a reply, then a turn answered without tools."""
    return {
        "uuid": "d-1",
        "tools": [copy.deepcopy(WEATHER), copy.deepcopy(CLOCK)],
        "messages": [
            {"role": "system", "content": "Be helpful."},
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": "<think>\nLook it up.\n</think>", "tool_calls": [_call()]},
            {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 3}'},
            {"role": "assistant", "content": "<think>\nAnswer.\n</think>\n\nIt is 3 °C in Oslo."},
            {"role": "user", "content": "Thanks!"},
            {"role": "assistant", "content": "<think>\nBe polite.\n</think>\n\nYou are welcome."},
        ],
    }


def _checklist(
    *weights: float,
    deps: tuple[list[str], ...] = ([], []),
    evidence_turn: int = 0,
    extra_turns: int = 0,
) -> Mutation:
    """Give the record one checklist: items A and B with `weights` on turn 0, one sound item on turn 1."""

    def item(item_id: str, weight: float, dependence: list[str]) -> Record:
        evidence = [{"turn": evidence_turn, "step": 0}]
        return {
            "id": item_id,
            "focus_on": "tool.content",
            "question": "q?",
            "weight": weight,
            "dependence": dependence,
            "evidence": evidence,
        }

    def mutate(record: Record) -> None:
        first = [item(name, weight, dep) for name, weight, dep in zip("AB", weights, deps, strict=True)]
        record["checklists"] = [[first, [item("C", 1.0, [])], *[[] for _ in range(extra_turns)]]]

    return mutate


def _m(index: int, **changes: Any) -> Mutation:
    """Update message `index` with `changes`."""
    return lambda d: d["messages"][index].update(changes)


def _insert(index: int, message: Any) -> Mutation:
    return lambda d: d["messages"].insert(index, message)


def _params(d: Record) -> Record:
    return d["tools"][0]["function"]["parameters"]


def _two_calls(d: Record, first: str | None = "c1", second: str | None = "c2") -> Record:
    d["messages"][2]["tool_calls"] = [_call(first), _call(second, arguments='{"city": "Rome"}')]
    return d


def _weather_copy(**changes: str) -> Mutation:
    """Add a copy of the weather tool with `changes` to its function spec."""
    return lambda d: d["tools"].append({"type": "function", "function": {**WEATHER["function"], **changes}})


def _nemotron(d: Record, metadata: str) -> None:
    d["metadata"] = metadata
    del d["tools"]


# rule -> (case name, mutation, substring the rule's reason must contain)
FAILING_BY_RULE: dict[str, list[tuple[str, Mutation, str]]] = {
    "structure": [
        ("record without messages", lambda d: d.clear(), "no 'messages' field"),
        ("messages not an array", lambda d: d.update(messages={"a": 1}), "is an object, not an array"),
        ("message not an object", _insert(1, "hello"), "is a string, not an object"),
        ("message without role", _m(1, role=None), "role is null"),
        ("content of a wrong type", _m(1, content=42), "content is a number, not text"),
        ("tool_calls not an array", _m(2, tool_calls={"id": "c1"}), "tool_calls is an object"),
        ("tool calls on a user message", _m(1, tool_calls=[_call()]), "'user' message has tool calls"),
        ("legacy function_call", _m(2, function_call={"name": "x"}), "legacy function_call"),
    ],
    "tool_schema": [
        ("tool without a name", lambda d: d["tools"][0]["function"].pop("name"), "has no name"),
        ("tool name with spaces", lambda d: d["tools"][1]["function"].update(name="get time"), "whitespace"),
        ("tool that is not an object", lambda d: d["tools"].append("get_date"), "is a string"),
        ("tools not an array", lambda d: d.update(tools={"get_weather": {}}), "'tools' is an object"),
        ("tool of another type", lambda d: d["tools"][1].update(type="retrieval"), "expected 'function'"),
        ("parameters not an object schema", lambda d: _params(d).update(type="array"), "expected 'object'"),
        (
            "parameters fail the metaschema",
            lambda d: _params(d)["properties"].update(unit={"type": "text"}),
            "not a valid JSON Schema",
        ),
        (
            "bad regex in the schema",
            lambda d: _params(d)["properties"].update(unit={"type": "string", "pattern": "(["}),
            "not a valid JSON Schema",
        ),
        ("required not in properties", lambda d: _params(d)["required"].append("country"), "'country'"),
        (
            "nested required not in properties",
            lambda d: _params(d)["properties"].update(
                where={"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lon"]}
            ),
            "required 'lon' is not in properties at properties/where",
        ),
        ("call to an unknown tool", _m(2, tool_calls=[_call(name="get_news")]), "unknown tool 'get_news'"),
        ("arguments not JSON", _m(2, tool_calls=[_call(arguments='{"city": ')]), "not valid JSON"),
        ("arguments not an object", _m(2, tool_calls=[_call(arguments='["Oslo"]')]), "an array, not an"),
        ("arguments of a wrong type", _m(2, tool_calls=[_call(arguments='{"city": 3}')]), "not of type"),
        ("missing required argument", _m(2, tool_calls=[_call(arguments="{}")]), "'city' is a required"),
        ("argument outside the enum", _m(2, tool_calls=[_call(arguments={"city": "Oslo", "unit": "K"})]), "'K'"),
        ("call without a function", _m(2, tool_calls=[{"id": "c1", "type": "function"}]), "no function"),
        ("Nemotron metadata that is not JSON", lambda d: _nemotron(d, '{"tools": ['), "'metadata' is not valid JSON"),
    ],
    "role_order": [
        ("no messages", lambda d: d.update(messages=[]), "no messages"),
        ("system message later", _insert(5, {"role": "system", "content": "x"}), "not the first"),
        ("legacy function role", _m(3, role="function"), "role 'function' is not one of"),
        ("assistant first", lambda d: d["messages"].pop(1), "before the first user message"),
        ("tool after a user message", _insert(2, {"role": "tool", "content": "{}"}), "not preceded"),
        ("ends on a tool call", lambda d: d.update(messages=d["messages"][:4]), "does not end with an"),
        ("ends on a user message", lambda d: d["messages"].pop(), "does not end with an"),
        ("final reply without text", _m(6, content="<think>\nx\n</think>"), "no visible text"),
        ("two user messages in a row", _insert(2, {"role": "user", "content": "Hi"}), "got no assistant"),
        ("assistant after the final reply", _insert(5, {"role": "assistant", "content": "Hi"}), "final reply"),
        ("tool results left unanswered", lambda d: d["messages"].pop(4), "not followed by an assistant"),
    ],
    "tool_call_response_mismatch": [
        ("missing response", lambda d: d["messages"].pop(3), "1 tool call(s) but 0"),
        ("extra response", _insert(3, {"role": "tool", "tool_call_id": "c1", "content": "{}"}), "1 tool call(s) but 2"),
        ("wrong tool_call_id", _m(3, tool_call_id="c9"), "no response for call id(s) c1"),
        (
            "some responses without id",
            lambda d: (_two_calls(d), d["messages"].insert(4, {"role": "tool", "content": "{}"})),
            "some tool responses have a tool_call_id and some do not",
        ),
        (
            "repeated call id",
            lambda d: (
                _two_calls(d, "c1", "c1"),
                d["messages"].insert(4, {"role": "tool", "tool_call_id": "c1", "content": "{}"}),
            ),
            "used more than once",
        ),
        ("responses with ids, calls without", _m(2, tool_calls=[_call(call_id=None)]), "some tool calls have no id"),
        (
            "response after a plain reply",
            lambda d: d["messages"].append({"role": "tool", "content": "{}"}),
            "follow an assistant message without tool calls",
        ),
        ("id that is not a string", _m(3, tool_call_id=7), "not strings"),
    ],
    "tool_response_in_assistant": [
        (
            "tool_response tags",
            _m(4, content="<think>\nx\n</think>\n\n<tool_response>{}</tool_response> 3 °C"),
            "'<tool_response>'",
        ),
        (
            "tool message as JSON",
            _m(6, content='<think>\nx\n</think>\n\n{"role": "tool", "content": "{}"}'),
            '"role": "tool"',
        ),
        ("chat-template tool turn", _m(4, content="<think>\nx\n</think>\n\n<|im_start|>tool\n{}"), "im_start"),
        (
            "tool response inside the thinking",
            _m(4, content="<think>\n<tool_result>3</tool_result>\n</think>\n\nIt is 3."),
            "tool_result",
        ),
        ("assistant with a tool_call_id", _m(4, tool_call_id="c1"), "carries a tool_call_id"),
    ],
    "tool_response_not_json": [
        ("plain text", _m(3, content="It is 3 degrees."), "not valid JSON"),
        ("truncated JSON", _m(3, content='{"temp": 3'), "not valid JSON"),
        ("NaN", _m(3, content='{"temp": NaN}'), "NaN is not JSON"),
        ("empty content", _m(3, content=""), "empty"),
        ("no content", _m(3, content=None), "empty"),
    ],
    "duplicate_tools": [
        ("same name twice", _weather_copy(description="Again."), "repeats the name 'get_weather'"),
        ("same spec under another name", _weather_copy(name="weather_now"), "same spec as tool 0"),
    ],
    "think_tags": [
        ("missing think", _m(4, content="It is 3 °C in Oslo."), "no <think> block"),
        ("missing think on a tool call", _m(2, content=None), "no <think> block"),
        ("unclosed think", _m(4, content="<think>\nhmm\n\nIt is 3."), "unbalanced"),
        ("close before open", _m(4, content="hmm</think> It is 3.<think>"), "out of order"),
        ("nested think", _m(4, content="<think>a<think>b</think>c</think> 3."), "out of order"),
        ("two think blocks", _m(4, content="<think>\na\n</think>\n<think>\nb\n</think>\n\nIt is 3."), "2 think blocks"),
        ("empty thinking", _m(4, content="<think>\n\n</think>\n\nIt is 3."), "empty <think> block"),
        ("text before the think block", _m(4, content="Sure. <think>\nx\n</think>\n\nIt is 3."), "text before"),
        ("reply with nothing visible", _m(4, content="<think>\nx\n</think>"), "no visible text and no tool"),
        ("empty user message", _m(5, content="  "), "empty user message"),
        ("user message without content", _m(1, content=None), "empty user message"),
    ],
    "checklists": [
        ("weights sum to 5.4", _checklist(2.7, 2.7), "weights sum to 5.4"),
        ("a negative weight", _checklist(-0.5, 1.5), "greater than or equal to 0"),
        ("a NaN weight", _checklist(float("nan"), 1.0), "greater than or equal to 0"),
        ("a dependency cycle", _checklist(0.5, 0.5, deps=(["B"], ["A"])), "dependency cycle"),
        ("an unknown dependency", _checklist(0.5, 0.5, deps=(["Z"], [])), "'Z', which is not an item"),
        ("evidence past the end", _checklist(0.5, 0.5, evidence_turn=9), "evidence[0].turn=9"),
        ("more turns than the dialogue", _checklist(0.5, 0.5, extra_turns=3), "has 5 turns"),
    ],
}
FAILING = [(rule, *case) for rule, cases in FAILING_BY_RULE.items() for case in cases]

# (case name, mutation): records that every rule must pass
PASSING: list[tuple[str, Mutation]] = [
    ("the base dialogue", lambda d: None),
    ("no system message", lambda d: d["messages"].pop(0)),
    ("empty system message", _m(0, content="")),
    ("tool responses without tool_call_id", _m(3, tool_call_id=None)),
    ("tool response is a JSON error object", _m(3, content='{"error": "Invalid tool call", "details": {}}')),
    ("tool response is a JSON array", _m(3, content='[1, "a"]')),
    ("tool response is a JSON string", _m(3, content='"done"')),
    ("tool response is a bare JSON number", _m(3, content="3")),
    ("arguments given as an object", _m(2, tool_calls=[_call(arguments={"city": "Oslo", "unit": "C"})])),
    ("tool without parameters called with empty arguments", _m(2, tool_calls=[_call(name="get_time", arguments="")])),
    ("tool without parameters called with {}", _m(2, tool_calls=[_call(name="get_time", arguments="{}")])),
    (
        "parallel calls answered in another order",
        lambda d: (
            _two_calls(d),
            d["messages"][3].update(tool_call_id="c2"),
            d["messages"].insert(4, {"role": "tool", "tool_call_id": "c1", "content": "{}"}),
        ),
    ),
    (
        "parallel calls answered by position",
        lambda d: (
            _two_calls(d, None, None),
            d["messages"][3].pop("tool_call_id"),
            d["messages"].insert(4, {"role": "tool", "content": "{}"}),
        ),
    ),
    (
        "chained steps in one turn",
        lambda d: d["messages"][4:4].extend(
            [
                {
                    "role": "assistant",
                    "content": "<think>\nAgain.\n</think>",
                    "tool_calls": [_call("c2", "get_time", "{}")],
                },
                {"role": "tool", "tool_call_id": "c2", "content": '"12:00"'},
            ]
        ),
    ),
    (
        "tool_calls as empty lists and nulls",
        lambda d: (
            d["messages"][1].update(tool_calls=[]),
            d["messages"][4].update(tool_calls=None),
            d["messages"][3].update(tool_calls=[]),
        ),
    ),
    ("content given as text parts", _m(1, content=[{"type": "text", "text": "Weather in Oslo?"}])),
    ("reasoning in reasoning_content", _m(4, content="It is 3 °C.", reasoning_content="Answer now.")),
    (
        "visible text mentions tools and roles",
        _m(4, content="<think>\nThe tool said 3.\n</think>\n\nMy role: the get_weather tool says 3."),
    ),
    ("JSON in the reply that is no tool message", _m(4, content='<think>\nx\n</think>\n\n{"city": "Oslo", "temp": 3}')),
    ("same parameters, different descriptions", _weather_copy(name="forecast", description="Tomorrow's weather.")),
    (
        "bare function specs in Nemotron metadata",
        lambda d: _nemotron(d, json.dumps({"tools": [WEATHER["function"], CLOCK["function"]], "source": "x"})),
    ),
    ("OpenAI specs in Nemotron metadata", lambda d: _nemotron(d, json.dumps({"tools": [WEATHER, CLOCK]}))),
    ("tools as a JSON string", lambda d: d.update(tools=json.dumps(d["tools"]))),
    (
        "unknown extra keys everywhere",
        lambda d: (
            d.update(extra=1),
            d["messages"][2]["tool_calls"][0].update(index=0),
            d["messages"][1].update(name="ana"),
        ),
    ),
    ("a $schema naming draft 7", lambda d: _params(d).update({"$schema": "http://json-schema.org/draft-07/schema#"})),
    ("a sound checklist", _checklist(0.25, 0.75, deps=([], ["A"]))),
]


def _mutated(mutation: Mutation) -> Record:
    record = base()
    mutation(record)
    return record


@pytest.mark.parametrize(("rule", "name", "mutation", "expected"), FAILING, ids=[f"{r}: {n}" for r, n, _, _ in FAILING])
def test_rule_rejects(rule: str, name: str, mutation: Mutation, expected: str) -> None:
    record = _mutated(mutation)
    found = check_record(record)
    reasons = [v.text for v in found if v.rule == rule]
    assert any(expected in reason for reason in reasons), f"{rule} gave {reasons}; all: {[str(v) for v in found]}"
    alone = check_record(record, FilterConfig(rules=[rule]))
    assert alone and {v.rule for v in alone} == {rule}
    assert not any("rule crashed" in v.reason for v in found)


@pytest.mark.parametrize(("name", "mutation"), PASSING, ids=[n for n, _ in PASSING])
def test_every_rule_passes(name: str, mutation: Mutation) -> None:
    assert [str(v) for v in check_record(_mutated(mutation))] == []


def test_every_rule_has_a_failing_and_a_passing_case() -> None:
    assert {rule for rule, *_ in FAILING} == set(RULE_NAMES)
    assert PASSING  # the passing cases run every rule


def test_record_that_is_not_an_object() -> None:
    found = check_record(["not", "a", "record"])
    assert [(v.rule, v.reason) for v in found if v.rule == "structure"] == [
        ("structure", "the record is an array, not an object")
    ]


def test_missing_think_is_allowed_when_not_required() -> None:
    record = _mutated(_m(4, content="It is 3 °C in Oslo."))
    assert check_record(record, FilterConfig(require_think=False)) == []
    still = check_record(_mutated(_m(4, content="<think>\n\n</think>\n\nIt is 3.")), FilterConfig(require_think=False))
    assert [v.reason for v in still] == ["empty <think> block"]


def test_violations_name_the_message() -> None:
    [violation] = check_record(_mutated(_m(3, content="oops")), FilterConfig(rules=["tool_response_not_json"]))
    assert violation.message == 3
    assert str(violation).startswith("tool_response_not_json: message 3: tool response is not valid JSON")


def test_input_is_not_modified() -> None:
    record = _mutated(_m(4, content="It is 3.", reasoning_content="x"))
    before = copy.deepcopy(record)
    check_record(record)
    assert record == before


def test_tools_without_description_sharing_parameters_are_not_duplicates() -> None:
    record = base()
    record["tools"].append({"type": "function", "function": {"name": "get_date", "parameters": {"type": "object"}}})
    record["tools"].append({"type": "function", "function": {"name": "get_day", "parameters": {"type": "object"}}})
    assert check_record(record) == []
