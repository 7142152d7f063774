"""The MCP server for real: `cm2 tools serve` in a subprocess, spoken to by the `mcp` client."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tools_builders import WEATHER_OSLO_1, WEATHER_OSLO_2, weather_dialogue

pytest.importorskip("mcp")

from mcp import Client
from mcp.client.stdio import StdioServerParameters

from cm2.data.io import read_dialogues
from cm2.data.samples import sample_path
from cm2.tools.mcp_server import build_server, sse_app

CM2 = str(Path(sys.executable).with_name("cm2"))
TOOL = "get_the_last_games_of_a_football_team"


def text_of(result: Any) -> str:
    (block,) = result.content
    return str(block.text)


async def exercise(client: Client) -> None:
    dialogue = next(read_dialogues(sample_path()))
    listed = (await client.list_tools()).tools
    assert [t.name for t in listed] == [TOOL]
    assert listed[0].input_schema == dialogue.tools[0].function.parameters
    recorded = await client.call_tool(TOOL, {"teamid": "Washington Huskies"})
    assert not recorded.is_error and text_of(recorded) == dialogue.steps()[0].tool_messages[0].content
    assert recorded.meta is not None and recorded.meta["cm2/source"] == "replayed"
    unknown = await client.call_tool("delete_everything", {})
    assert unknown.is_error and json.loads(text_of(unknown))["error_tool_call"]["code"] == "unknown_tool"
    # Not recorded, and no simulator LLM was given: a clean error object, not a crash.
    unrecorded = await client.call_tool(TOOL, {"teamid": "MUN"})
    assert unrecorded.is_error and unrecorded.meta is not None
    assert unrecorded.meta["cm2/error_code"] == "simulation_failed"


def test_stdio_server_lists_tools_and_replays_recorded_calls() -> None:
    params = StdioServerParameters(command=CM2, args=["tools", "serve", str(sample_path()), "--transport", "stdio"])

    async def main() -> None:
        async with Client(params) as client:
            await exercise(client)

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    """`cm2 tools serve` over streamable HTTP on a free loopback port, serving the weather dialogue."""
    dataset = tmp_path / "weather.jsonl"
    dataset.write_text(json.dumps(weather_dialogue().dump()) + "\n", encoding="utf-8")
    port = free_port()
    args = [CM2, "tools", "serve", str(dataset), "--transport", "streamable-http", "--port", str(port)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {process.stderr.read() if process.stderr else ''!r}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_streamable_http_sessions_are_separate_episodes(http_server: str) -> None:
    oslo = {"city": "Oslo", "unit": "C"}

    async def weather_calls(count: int) -> list[str]:
        # A handshake (legacy) session carries an mcp-session-id, which keys the episode.
        async with Client(http_server, mode="legacy") as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert names == ["get_weather", "list_restaurants", "book_table"]
            return [text_of(await client.call_tool("get_weather", oslo)) for _ in range(count)]

    # The reference recorded two different answers to this call: an episode gets them in order.
    assert asyncio.run(weather_calls(2)) == [WEATHER_OSLO_1, WEATHER_OSLO_2]
    assert asyncio.run(weather_calls(1)) == [WEATHER_OSLO_1]


def test_sse_connections_are_separate_episodes_on_real_backends() -> None:
    pytest.importorskip("bfcl_eval")
    from mcp.client.session import ClientSession
    from mcp.client.sse import sse_client

    from cm2.benchmarks.bfcl.environment import BfclEnvironment
    from cm2.llm.testing import BackgroundServer

    server = build_server(lambda: BfclEnvironment.from_entry("multi_turn_base_0"))

    async def pwd_after(url: str, moves: list[str]) -> str:
        async with sse_client(f"{url}/sse") as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            assert "cd" in {tool.name for tool in (await session.list_tools()).tools}
            for folder in moves:
                assert not (await session.call_tool("cd", {"folder": folder})).is_error
            answer = json.loads(text_of(await session.call_tool("pwd", {})))
            return str(answer["current_working_directory"])

    with BackgroundServer(sse_app(server)) as http:
        assert asyncio.run(pwd_after(http.url, ["document"])) == "/workspace/document"
        assert asyncio.run(pwd_after(http.url, [])) == "/workspace"
