"""`cm2 tools …`: serve a dialogue's tools over MCP, from the tool environment registered under a name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from cm2.cli.options import configured
from cm2.cli.root import app
from cm2.tools.simulator import SimulatorConfig

tools_app = typer.Typer(no_args_is_help=True, help="Tool environments: the hybrid simulator, BFCL backends, MCP.")
app.add_typer(tools_app, name="tools")


@tools_app.command("serve")
@configured(SimulatorConfig)
def serve(
    dataset: Annotated[
        Path, typer.Argument(exists=True, help="Dialogue file (for bfcl: one `cm2 data import-bfcl` wrote).")
    ],
    dialogue: Annotated[str | None, typer.Option("--dialogue", help="Dialogue uuid (default: the first).")] = None,
    tools: Annotated[
        str,
        typer.Option(
            "--tools", "--mode", help="The registered tool environment: simulated (the hybrid simulator), bfcl, …"
        ),
    ] = "simulated",
    host: Annotated[str, typer.Option(help="Address to bind (HTTP transports).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (HTTP transports).")] = 8000,
    transport: Annotated[
        Literal["stdio", "sse", "streamable-http"], typer.Option(help="stdio, sse or streamable-http.")
    ] = "stdio",
    *,
    settings: SimulatorConfig,
) -> None:
    """Serve one dialogue's tools (with their JSON schemas) over MCP; each connection is one episode.

    Simulator settings (`cm2.tools.SimulatorConfig`) from --config / --set, e.g. --set llm.model=NAME
    --set llm.base_url=URL (without `llm`: recorded and checked answers only), --set max_attempts=3."""
    import anyio

    from cm2.build import build_environments
    from cm2.data.io import find_dialogue
    from cm2.tools.mcp_server import build_server, serve_async

    make = build_environments(tools, settings)
    chosen = find_dialogue(dataset, dialogue)
    server = build_server(lambda: make(chosen), name=f"cm2-tools-{tools}")
    anyio.run(lambda: serve_async(server, transport, host=host, port=port))
