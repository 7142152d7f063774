"""`cm2 llm ping` and `cm2 llm serve`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cm2.cli import app
from cm2.llm.testing import FakeOpenAIServer, FaultConfig

runner = CliRunner()


def test_ping_prints_answer_latency_and_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PING_KEY", "sk-ping-secret")
    with FakeOpenAIServer(model="m") as server:
        result = runner.invoke(
            app,
            [
                "llm",
                "ping",
                "--set",
                f"base_url={server.base_url}",
                "--set",
                "model=m",
                "--prompt",
                "hi there",
                "--set",
                "api_key_env=PING_KEY",
            ],
        )
    assert result.exit_code == 0, result.output
    assert "echo: hi there" in result.output
    assert re.search(r"latency \d+\.\d+s · prompt 2 tokens · completion 3 tokens", result.output)
    assert server.authorizations == ["Bearer sk-ping-secret"]
    assert "sk-ping-secret" not in result.output


def test_ping_with_a_schema_reports_the_dialect(tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "required": ["ok"]}))
    faults = FaultConfig(reject_response_formats=["json_schema"])
    with FakeOpenAIServer(lambda body: '{"ok": true}', faults=faults) as server:
        result = runner.invoke(
            app,
            ["llm", "ping", "--set", f"base_url={server.base_url}", "--set", "model=m", "--json-schema", str(schema)],
        )
    assert result.exit_code == 0, result.output
    assert 'parsed JSON (json_object_schema): {"ok": true}' in result.output


def test_ping_failure_exits_nonzero() -> None:
    with FakeOpenAIServer(faults=FaultConfig(error_500=1.0)) as server:
        result = runner.invoke(
            app, ["llm", "ping", "--set", f"base_url={server.base_url}", "--set", "model=m", "--set", "max_retries=0"]
        )
    assert result.exit_code == 1
    assert "error" in result.output and "HTTP 500" in result.output


def test_serve_help_lists_its_options() -> None:
    result = runner.invoke(app, ["llm", "serve", "--help"])
    assert result.exit_code == 0
    for flag in (
        "--port",
        "--host",
        "--chat-template",
        "--model-name",
        "--max-batch-size",
        "--allowed-host",
        "--api-key-env",
    ):
        assert flag in result.output


@pytest.mark.slow
def test_serve_command_end_to_end(tiny_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Start `cm2 llm serve` as a subprocess on a tiny model with a custom template and an API key, then ping
    it; a DNS-rebound Host, a cross-origin POST and a request without the key are refused."""
    monkeypatch.setenv("CM2_TEST_SERVE_KEY", "k-77")
    auth = {"authorization": "Bearer k-77"}
    template = tmp_path / "template.jinja"
    template.write_text(
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    port = 18000 + os.getpid() % 1000
    command = [sys.executable, "-c", "from cm2.cli import main; main()", "llm", "serve", str(tiny_model_path)]
    command += ["--port", str(port), "--chat-template", str(template), "--model-name", "tiny"]
    command += ["--api-key-env", "CM2_TEST_SERVE_KEY"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", headers=auth).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.5)
        ping = [
            "llm",
            "ping",
            "--set",
            f"base_url=http://127.0.0.1:{port}/v1",
            "--set",
            "model=tiny",
            "--max-tokens",
            "4",
        ]
        result = runner.invoke(app, [*ping, "--set", "api_key_env=CM2_TEST_SERVE_KEY"])
        assert result.exit_code == 0, result.output
        assert re.search(r"model tiny · latency .* completion [1-4] tokens", result.output)
        chat = f"http://127.0.0.1:{port}/v1/chat/completions"
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        assert httpx.post(chat, json=body).status_code == 401
        assert httpx.post(chat, json=body, headers={**auth, "host": "attacker.example"}).status_code == 403
        assert httpx.post(chat, json=body, headers={**auth, "origin": "http://attacker.example"}).status_code == 403
        assert httpx.post(chat, content=b"{}", headers={**auth, "content-type": "text/plain"}).status_code == 415
    finally:
        process.terminate()
        process.wait(timeout=30)
