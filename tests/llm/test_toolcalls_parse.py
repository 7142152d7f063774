from cm2.llm.toolcalls import parse_output


def test_thinking_reply_and_two_calls() -> None:
    text = (
        "<think>need two lookups</think>\n"
        '<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call>\n'
        '<tool_call>{"name": "b", "arguments": "{\\"y\\": 2}"}</tool_call>'
    )
    out = parse_output(text)
    assert out.ok and out.thinking == "need two lookups"
    assert [c.name for c in out.tool_calls] == ["a", "b"]
    assert out.tool_calls[1].function.parsed_arguments() == {"y": 2}
    message = out.to_message()
    assert message.content == "<think>need two lookups</think>"
    assert len(message.calls) == 2


def test_plain_reply() -> None:
    out = parse_output("<think>x</think>\n\nHello there")
    assert out.ok and out.visible == "Hello there" and out.tool_calls == []
    assert out.to_message().is_final_reply


def test_malformed_calls_are_reported_not_raised() -> None:
    out = parse_output('<tool_call>{"name": "a", "arguments": [1]}</tool_call><tool_call>{bad</tool_call>')
    assert not out.ok and out.tool_calls == []
    assert "must be an object" in out.errors[0] and "not valid JSON" in out.errors[1]


def test_unclosed_call() -> None:
    out = parse_output('<tool_call>{"name": "a", "arguments": {}}')
    assert out.errors == ["tool call 0: `<tool_call>` is never closed"]


def test_call_ids_are_deterministic() -> None:
    text = '<tool_call>{"name": "a", "arguments": {}}</tool_call>'
    assert parse_output(text).tool_calls[0].id == parse_output(text).tool_calls[0].id
