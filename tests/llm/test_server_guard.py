"""`cm2 serve` (alias `cm2 llm serve`) answers only its own clients: over real HTTP (uvicorn on 127.0.0.1), a
DNS-rebound Host, a cross-origin or non-JSON POST and a missing or wrong API key are refused."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from typer.testing import CliRunner

from cm2.llm.completions import PromptSampling
from cm2.llm.guard import GuardConfig, guarded, host_name
from cm2.llm.protocol import ChatRequest, ChatResponse, Usage
from cm2.llm.server import create_app
from cm2.llm.testing import BackgroundServer

KEY_ENV = "CM2_TEST_SERVE_KEY"
KEY = "serve-key-7f3a9c"
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


class Hello:
    """A generator that always says hello (the guard is under test, not the model)."""

    async def generate(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text="hello", usage=Usage(prompt_tokens=1, completion_tokens=1), finish_reason="stop")

    async def complete(self, prompt: str, sampling: PromptSampling) -> ChatResponse:
        return await self.generate(ChatRequest(messages=[{"role": "user", "content": prompt}]))


def _llm_app() -> Any:
    return create_app(Hello(), "m")


Serve = Callable[..., Any]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """`serve(**guard_config)` starts the app behind the guard and returns its URL."""
    servers: list[BackgroundServer] = []

    def start(**config: Any) -> str:
        server = BackgroundServer(guarded(_llm_app(), GuardConfig(**config))).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


def _chat(url: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=headers)


def test_local_clients_are_served(serve: Serve) -> None:
    url = serve()
    port = url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert _chat(url, host=host).status_code == 200, host
    assert _chat(url, origin=f"http://localhost:{port}").status_code == 200  # a same-origin page
    sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    assert sdk.chat.completions.create(model="m", messages=CHAT["messages"]).choices[0].message.content == "hello"  # type: ignore[arg-type]


def test_dns_rebinding_host_is_refused(serve: Serve) -> None:
    url = serve()
    port = url.rsplit(":", 1)[1]
    for host in (f"attacker.example:{port}", "127.0.0.1.attacker.example", "localhost.:80", "0.0.0.0", "a:b:c"):
        answer = _chat(url, host=host)
        assert answer.status_code == 403 and "Host" in answer.json()["error"]["message"], host
    assert httpx.get(f"{url}/v1/models", headers={"host": "attacker.example"}).status_code == 403
    with socket.create_connection(("127.0.0.1", int(port))) as raw:  # HTTP/1.0 without any Host header
        raw.sendall(b"GET /v1/models HTTP/1.0\r\n\r\n")
        assert raw.recv(100).split(b"\r\n")[0].endswith(b"403 Forbidden")


def test_cross_origin_requests_are_refused(serve: Serve) -> None:
    url = serve()
    for origin in ("http://attacker.example", "null", "https://127.0.0.1.attacker.example", "file://"):
        assert _chat(url, origin=origin).status_code == 403, origin
    # A "simple" cross-origin POST needs no preflight: text/plain or a form, never JSON.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""):
        answer = httpx.post(
            f"{url}/v1/chat/completions", content=b'{"messages": []}', headers={"content-type": content_type}
        )
        assert answer.status_code == 415, content_type
    assert httpx.get(f"{url}/v1/models", headers={"origin": "http://attacker.example"}).status_code == 403
    assert httpx.get(f"{url}/v1/models", headers={"sec-fetch-site": "cross-site"}).status_code == 403
    assert httpx.get(f"{url}/v1/models", headers={"sec-fetch-site": "same-origin"}).status_code == 200
    assert httpx.options(f"{url}/v1/chat/completions", headers={"origin": "http://attacker.example"}).status_code == 403


def test_api_key(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    url = serve(api_key_env=KEY_ENV)
    missing = _chat(url)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert KEY not in missing.text
    for wrong in (f"Bearer {KEY[:-1]}", f"Bearer {KEY}x", f"Basic {KEY}", KEY, "Bearer", f"Bearer  {KEY} x"):
        assert _chat(url, authorization=wrong).status_code == 401, wrong
    assert _chat(url, authorization=f"Bearer {KEY}").status_code == 200
    assert httpx.get(f"{url}/v1/models", headers={"authorization": f"bearer {KEY}"}).status_code == 200
    sdk = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
    assert sdk.models.list().data[0].id == "m"
    # the Host and Origin checks still apply to a client holding the key
    assert _chat(url, authorization=f"Bearer {KEY}", host="attacker.example").status_code == 403


def test_extra_hosts_and_wildcard(serve: Serve) -> None:
    extra = serve(allowed_hosts=["my-box.lan", "Other.lan:9000", "[fd00::5]:80", "fd00::6"], bound_host="10.1.2.3")
    for host in ("other.lan", "[fd00::5]:8000", "[fd00::6]"):
        assert _chat(extra, host=host).status_code == 200, host
    for host in ("my-box.lan:8000", "10.1.2.3"):
        assert _chat(extra, host=host).status_code == 200, host
    assert _chat(extra, origin="http://my-box.lan:8000").status_code == 200
    anything = serve(allowed_hosts=["*"])
    assert _chat(anything, host="proxy.example").status_code == 200
    assert _chat(anything, host="proxy.example", origin="http://proxy.example").status_code == 200  # same origin
    assert _chat(anything, host="proxy.example", origin="http://attacker.example").status_code == 403
    assert GuardConfig(bound_host="0.0.0.0").hosts() == {"localhost", "127.0.0.1", "::1"}


def test_host_names() -> None:
    assert host_name("[::1]:8000") == "::1" and host_name("Example.COM") == "example.com"
    assert host_name("x:notaport") is None and host_name("") is None


def test_an_unset_key_variable_stops_the_server_before_it_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    from cm2.cli import app

    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=KEY_ENV):
        guarded(_llm_app(), GuardConfig(api_key_env=KEY_ENV))
    for verb in (["llm", "serve", "no/such/model"], ["serve", "."]):
        result = CliRunner().invoke(app, [*verb, "--api-key-env", KEY_ENV])
        assert result.exit_code == 2 and KEY_ENV in result.output, result.output
    monkeypatch.setenv(KEY_ENV, KEY)
    assert KEY not in repr(guarded(_llm_app(), GuardConfig(api_key_env=KEY_ENV)))
