"""An MCP server exposing a tool environment (optional extra `cm2[mcp]`, written for the `mcp` 2.x SDK).

Every MCP session gets its own environment from the factory, so one client session is one episode.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

from cm2.schema import FunctionCall, ToolCall
from cm2.tools.environment import EnvironmentFactory, ToolEnvironment
from cm2.tools.result import ToolResult

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server

Transport = Literal["stdio", "sse", "streamable-http"]
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _require_mcp() -> None:
    try:
        importlib.import_module("mcp.server.lowlevel")
    except ImportError as exc:
        raise ImportError(f"the MCP server needs the optional extra: pip install 'cm2[mcp]' ({exc})") from exc


def call_result(result: ToolResult) -> Any:
    """A `ToolResult` as an MCP `CallToolResult` (text content, structured content when it is an object)."""
    import mcp_types as types

    try:
        parsed = json.loads(result.content)
    except json.JSONDecodeError:
        parsed = None
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=result.content)],
        structured_content=parsed if isinstance(parsed, dict) else None,
        is_error=result.is_error,
        _meta={"cm2/source": result.source, "cm2/error_code": result.error_code},
    )


class _Episodes:
    """The environments of one server lifespan, one per MCP session id (None: the single connection)."""

    def __init__(self, factory: EnvironmentFactory):
        self.factory = factory
        self._by_session: dict[str | None, ToolEnvironment] = {}

    def get(self, session_id: str | None) -> ToolEnvironment:
        env = self._by_session.get(session_id)
        if env is None:
            env = self._by_session[session_id] = self.factory()
        return env


def _session_id(ctx: Any) -> str | None:
    """The streamable-HTTP session id of a request (None on stdio and SSE, where a lifespan is one connection)."""
    headers = getattr(ctx.request, "headers", None)
    return headers.get("mcp-session-id") if headers is not None else None


def build_server(factory: EnvironmentFactory, *, name: str = "cm2-tools", instructions: str | None = None) -> Server:
    """A low-level MCP server listing the environment's tools with their JSON schemas and answering calls.

    Episodes: stdio and SSE run the server once per connection, each with fresh environments; streamable HTTP
    shares one lifespan, so environments are keyed by the `mcp-session-id` header (stateless HTTP, which has
    none, makes all requests one episode).
    """
    _require_mcp()
    import mcp_types as types
    from mcp.server.lowlevel import Server

    tools = [
        types.Tool(name=spec.name, description=spec.function.description, input_schema=spec.function.parameters)
        for spec in factory().tools
    ]

    @asynccontextmanager
    async def lifespan(server: Any) -> AsyncIterator[_Episodes]:
        yield _Episodes(factory)

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        call = ToolCall(function=FunctionCall(name=params.name, arguments=params.arguments or {}))
        episodes: _Episodes = ctx.lifespan_context
        result = await episodes.get(_session_id(ctx)).call(call)
        return call_result(result)

    return Server(name, instructions=instructions, lifespan=lifespan, on_list_tools=list_tools, on_call_tool=call_tool)


def sse_app(server: Server, host: str = "127.0.0.1") -> Any:
    """A Starlette app serving `server` over SSE (`GET /sse`, `POST /messages/`), one episode per connection."""
    from mcp.server.sse import SseServerTransport
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    security = None
    if host in _LOCAL_HOSTS:
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    sse = SseServerTransport("/messages/", security_settings=security)

    async def handle_sse(request: Request) -> Response:
        async with sse.connect_sse(request.scope, request.receive, request._send) as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return Response()

    routes = [Route("/sse", endpoint=handle_sse, methods=["GET"]), Mount("/messages/", app=sse.handle_post_message)]
    return Starlette(routes=routes)


async def serve_async(
    server: Server, transport: Transport = "stdio", *, host: str = "127.0.0.1", port: int = 8000
) -> None:
    """Serve until the client (stdio) or the process (HTTP) stops. HTTP binds `host`, loopback by default."""
    if transport == "stdio":
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return
    import uvicorn

    if transport == "sse":
        app, path = sse_app(server, host), "/sse"
    elif transport == "streamable-http":
        app, path = server.streamable_http_app(host=host), "/mcp"
    else:
        raise ValueError(f"unknown transport {transport!r}; use stdio, sse or streamable-http")
    print(f"MCP server ({transport}) on http://{host}:{port}{path}", file=sys.stderr, flush=True)
    await uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).serve()
