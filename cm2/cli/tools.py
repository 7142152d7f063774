"""`cm2 tools …`: serve a dialogue's tools over MCP, from the tool environment registered under a name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from cm2.cli.options import ConfigFile, Sets, command_config

if TYPE_CHECKING:
    from cm2.tools.environment import EnvironmentFactory
    from cm2.tools.simulator import SimulatorConfig

app = typer.Typer(no_args_is_help=True, help="Tool environments: the hybrid simulator, BFCL backends, MCP.")


def episode_factory(
    dataset: Path, uuid: str | None, tools: str, simulator: SimulatorConfig | None = None
) -> EnvironmentFactory:
    """A fresh environment per episode of the dialogue `uuid` of `dataset` (default: its first), from the tool
    environment registered as `tools` (`cm2.tools.environments`)."""
    from cm2.build import build_environments
    from cm2.data.io import read_dialogues

    if not dataset.exists():
        raise typer.BadParameter(f"{dataset} does not exist", param_hint="DATASET")
    make = build_environments(tools, simulator)
    count = 0
    for dialogue in read_dialogues(dataset):
        count += 1
        if uuid is None or dialogue.uuid == uuid:
            return lambda: make(dialogue)
    if uuid is None:
        raise typer.BadParameter(f"{dataset} holds no dialogue", param_hint="DATASET")
    raise typer.BadParameter(f"no dialogue with uuid {uuid!r} among the {count} of {dataset}", param_hint="--dialogue")


@app.command("serve")
def serve(
    dataset: Annotated[Path, typer.Argument(help="Dialogue file (for bfcl: one `cm2 data import-bfcl` wrote).")],
    dialogue: Annotated[str | None, typer.Option("--dialogue", help="Dialogue uuid (default: the first).")] = None,
    tools: Annotated[
        str,
        typer.Option(
            "--tools", "--mode", help="The registered tool environment: simulated (the hybrid simulator), bfcl, …"
        ),
    ] = "simulated",
    config: ConfigFile = None,
    sets: Sets = None,
    host: Annotated[str, typer.Option(help="Address to bind (HTTP transports).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (HTTP transports).")] = 8000,
    transport: Annotated[
        Literal["stdio", "sse", "streamable-http"], typer.Option(help="stdio, sse or streamable-http.")
    ] = "stdio",
) -> None:
    """Serve one dialogue's tools (with their JSON schemas) over MCP; each connection is one episode.

    Simulator settings (`cm2.tools.SimulatorConfig`) from --config / --set, e.g. --set llm.model=NAME
    --set llm.base_url=URL (without `llm`: recorded and checked answers only), --set max_attempts=3."""
    import anyio

    from cm2.tools.environments import environment_name
    from cm2.tools.mcp_server import build_server, serve_async
    from cm2.tools.simulator import SimulatorConfig

    factory = episode_factory(dataset, dialogue, environment_name(tools), command_config(SimulatorConfig, config, sets))
    server = build_server(factory, name=f"cm2-tools-{tools}")
    anyio.run(lambda: serve_async(server, transport, host=host, port=port))


def register(root: typer.Typer) -> None:
    """Add `cm2 tools` to the root app."""
    root.add_typer(app, name="tools")
