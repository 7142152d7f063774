"""Credentials in a base URL (`user:password@`, `?api-key=`) reach the server but no file, log line, error
or repr: `cm2 label`, `cm2 judge`, `cm2 eval bfcl` and `cm2 llm ping` against real servers on 127.0.0.1
that fail (the fault-injecting test server) or echo the URL back."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from typer.testing import CliRunner

from cm2.cli import app
from cm2.data.samples import sample_path
from cm2.llm.config import LLMConfig
from cm2.llm.endpoints import Endpoint, join_url
from cm2.llm.openai_backend import OpenAIBackend
from cm2.llm.redact import redact_text, redact_tree, redact_url
from cm2.llm.testing import BackgroundServer, FakeOpenAIServer, FaultConfig

PASSWORD = "pw-SECRET-9d2e"
QUERY_KEY = "qk-SECRET-41c7"
SECRETS = (PASSWORD, QUERY_KEY)


def secret_url(base_url: str) -> str:
    """`base_url` (http://127.0.0.1:PORT/v1) with a password and a key in its query."""
    return base_url.replace("http://", f"http://alice:{PASSWORD}@") + f"?api-key={QUERY_KEY}&api-version=2024-06-01"


def assert_nowhere(tmp_path: Path, *texts: str) -> None:
    """No secret in any file under `tmp_path` (bytes, recursively) nor in `texts`."""
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert all(secret.encode() not in data for secret in SECRETS), f"secret in {path}"
    for text in texts:
        assert all(secret not in text for secret in SECRETS), text[:2000]


def test_redaction() -> None:
    url = f"https://bob:{PASSWORD}@api.example/v1?api-key={QUERY_KEY}&api-version=3&sig=s1&token=t1&key=k1"
    shown = redact_url(url)
    assert shown == "https://***@api.example/v1?api-key=***&api-version=3&sig=***&token=***&key=***"
    assert redact_url("http://h/v1?X-Amz-Signature=a&X-Amz-Credential=b&access_token=c&code=d&page=2") == (
        "http://h/v1?X-Amz-Signature=***&X-Amz-Credential=***&access_token=***&code=***&page=2"
    )
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_text(f"HTTP 500 from {url}: boom") == f"HTTP 500 from {shown}: boom"
    assert redact_tree({"a": [url, 3, {"b": url}]}) == {"a": [shown, 3, {"b": shown}]}
    assert join_url(url, "chat/completions").startswith(f"https://bob:{PASSWORD}@api.example/v1/chat/completions?")
    config = LLMConfig(model="m", base_urls=[url])
    texts = [repr(config), str(config), repr(OpenAIBackend(config)), repr(Endpoint(url))]
    assert all(secret not in text for text in texts for secret in SECRETS) and all("***@" in t for t in texts)
    assert config.base_urls == [url]  # the URL itself is kept to send requests


def test_label_judge_and_bfcl_against_a_failing_server(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    records = json.loads(sample_path().read_text(encoding="utf-8"))
    dialogues = tmp_path / "dialogues.jsonl"
    dialogues.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    rollouts = tmp_path / "rollouts.jsonl"
    rollouts.write_text(json.dumps({"dialogue_uuid": records[0]["uuid"], "messages": records[0]["messages"]}) + "\n")
    outputs = []
    faults = FaultConfig(error_500=0.5, error_400=0.3, invalid_body=0.2)
    with FakeOpenAIServer(lambda body: "unused", faults=faults, seed=1) as server:
        url = secret_url(server.base_url)
        llm = {
            role: ["--set", f"{role}={{model: m, base_url: '{url}', api_key_env: null}}"]
            for role in ("llm", "judge.llm")
        }
        unlabeled = tmp_path / "unlabeled.jsonl"
        unlabeled.write_text("".join(json.dumps({**r, "checklists": []}) + "\n" for r in records), encoding="utf-8")
        runs = [
            ["label", str(unlabeled), str(tmp_path / "labeled.jsonl"), "--no-progress", "--allow-partial", *llm["llm"]],
            [
                "judge",
                str(rollouts),
                str(dialogues),
                str(tmp_path / "judged.jsonl"),
                "--allow-partial",
                *llm["judge.llm"],
            ],
            [
                "eval",
                "bfcl",
                *llm["llm"][:1],
                llm["llm"][1].replace("llm=", "policy=", 1),
                "--ids",
                "multi_turn_base_0",
                "--out",
                str(tmp_path),
            ],
        ]
        for args in runs:
            result = CliRunner().invoke(app, args)
            outputs.append(result.output + (str(result.exception) if result.exception else ""))
        assert server.request_count >= 3 and sum(server.faults.values()) >= 3
        assert all(a and a.startswith("Basic ") for a in server.authorizations)  # the userinfo was sent
    written = {p.name: p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()}
    assert {"labeled.failures.jsonl", "bfcl_entries.jsonl", "bfcl.json"} <= set(written), sorted(written)
    shown = "http://***@127.0.0.1:"  # the URL is still named where it helps, without its credentials
    assert shown in written["labeled.failures.jsonl"] and shown in written["bfcl.json"]
    assert shown in written.get("judged.jsonl", "") + outputs[1]  # judge reasons (or its summary)
    assert "HTTP Request: POST" in caplog.text  # httpx2 logged every request, redacted
    assert_nowhere(tmp_path, *outputs, caplog.text)


def test_a_server_echoing_the_url_in_its_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    async def careless(request: Request) -> Response:
        seen.append(str(request.url))
        return JSONResponse({"error": {"message": f"bad request to {request.url}"}}, status_code=401)

    caplog.set_level(logging.DEBUG)
    app_ = Starlette(routes=[Route("/v1/chat/completions", careless, methods=["POST"])])
    with BackgroundServer(app_) as server:
        url = secret_url(f"{server.url}/v1")
        result = CliRunner().invoke(
            app, ["llm", "ping", "--set", f"base_url={url}", "--set", "model=m", "--set", "max_retries=0"]
        )
    assert result.exit_code == 1 and "HTTP 401" in result.output and "api-key=***" in result.output
    assert seen and f"api-key={QUERY_KEY}" in seen[0]  # the key in the query reached the server
    (tmp_path / "output.txt").write_text(result.output)
    assert_nowhere(tmp_path, result.output, caplog.text)
