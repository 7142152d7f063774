"""The fault-injecting server itself: seeded fault draws, counters, and each fault's shape on the wire."""

from __future__ import annotations

import httpx
import pytest

from cm2.llm.testing import FakeOpenAIServer, FaultConfig, completion_body

BODY = {"model": "m", "messages": [{"role": "user", "content": "a b c"}]}


def draw_faults(seed: int) -> list[str | None]:
    faults = FaultConfig(error_500=0.2, error_429=0.1, invalid_body=0.1, truncated=0.2)
    with FakeOpenAIServer(faults=faults, seed=seed) as server, httpx.Client() as http:
        seen: list[str | None] = []
        for _ in range(30):
            reply = http.post(f"{server.base_url}/chat/completions", json=BODY)
            if reply.status_code == 500:
                seen.append("error_500")
            elif reply.status_code == 429:
                seen.append("error_429")
            elif not reply.text.endswith("}"):
                seen.append("invalid_body")
            else:
                seen.append("truncated" if reply.json()["choices"][0]["finish_reason"] == "length" else None)
        assert server.request_count == 30
        assert sum(server.faults.values()) == sum(s is not None for s in seen)
    return seen


def test_fault_draws_are_seeded() -> None:
    first, again, other = draw_faults(1), draw_faults(1), draw_faults(2)
    assert first == again and first != other
    assert {"error_500", "error_429", "invalid_body", "truncated", None} <= set(first + other)


def test_plan_then_normal_answers_and_counters() -> None:
    faults = FaultConfig(plan=["error_400", None, "truncated"])
    with FakeOpenAIServer(lambda body: "one two three four", faults=faults, model="served") as server:
        with httpx.Client() as http:
            url = f"{server.base_url}/chat/completions"
            replies = [http.post(url, json=BODY, headers={"Authorization": "Bearer k"}) for _ in range(4)]
            assert http.get(f"{server.base_url}/models").json()["data"][0]["id"] == "served"
            assert http.get(server.base_url.removesuffix("/v1") + "/health").json() == {"status": "ok"}
        assert [r.status_code for r in replies] == [400, 200, 200, 200]
        assert replies[1].json()["choices"][0]["message"]["content"] == "one two three four"
        assert replies[1].json()["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        assert replies[2].json()["choices"][0] == {
            "index": 0,
            "message": {"role": "assistant", "content": "one two t"},
            "finish_reason": "length",
        }
        assert server.request_count == 4 and server.authorizations == ["Bearer k"] * 4
        assert server.requests[0] == BODY and dict(server.faults) == {"error_400": 1, "truncated": 1}


def test_hang_outlasts_a_client_timeout() -> None:
    with FakeOpenAIServer(faults=FaultConfig(plan=["hang"], hang_s=10)) as server:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.base_url}/chat/completions", json=BODY, timeout=0.2)
        assert httpx.post(f"{server.base_url}/chat/completions", json=BODY).status_code == 200


def test_responder_may_return_a_whole_body() -> None:
    body = completion_body(None, tool_calls=[{"id": "c1", "type": "function", "function": {"name": "f"}}])
    with FakeOpenAIServer(lambda request: body) as server:
        reply = httpx.post(f"{server.base_url}/chat/completions", json=BODY).json()
    assert reply["choices"][0]["message"]["tool_calls"][0]["id"] == "c1"
