"""`cm2 tools …`: serve a dialogue's tools over MCP."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cm2.cli.options import ConfigFile, Sets, command_config

if TYPE_CHECKING:
    from cm2.schema import Dialogue
    from cm2.tools.environment import EnvironmentFactory
    from cm2.tools.simulator import SimulatorConfig

app = typer.Typer(no_args_is_help=True, help="Tool environments: the hybrid simulator, BFCL backends, MCP.")


class Mode(enum.StrEnum):
    simulated = "simulated"
    bfcl = "bfcl"


class TransportChoice(enum.StrEnum):
    stdio = "stdio"
    sse = "sse"
    streamable_http = "streamable-http"


def _find_dialogue(path: Path, uuid: str | None) -> Dialogue:
    from cm2.data.io import read_dialogues

    count = 0
    for dialogue in read_dialogues(path):
        count += 1
        if uuid is None or dialogue.uuid == uuid:
            return dialogue
    if uuid is None:
        raise typer.BadParameter(f"{path} holds no dialogue", param_hint="DATASET")
    raise typer.BadParameter(f"no dialogue with uuid {uuid!r} among the {count} of {path}", param_hint="--dialogue")


def _bfcl_entry(dataset: str, entry_id: str | None) -> dict[str, Any]:
    from cm2.benchmarks.bfcl import environment as bfcl

    path = Path(dataset)
    if path.is_file():
        with path.open(encoding="utf-8") as handle:
            entries = [json.loads(line) for line in handle if line.strip()]
    else:
        try:
            entries = bfcl.load_entries(dataset)
        except ValueError as exc:
            raise typer.BadParameter(f"{exc} (give a BFCL category or a JSONL file)", param_hint="DATASET") from exc
    for entry in entries:
        if entry_id is None or entry.get("id") == entry_id:
            return entry
    raise typer.BadParameter(f"no BFCL entry {entry_id!r} in {dataset}", param_hint="--dialogue")


def _factory(dataset: str, dialogue: str | None, mode: Mode, simulator: SimulatorConfig) -> EnvironmentFactory:
    if mode is Mode.bfcl:
        from cm2.benchmarks.bfcl.environment import BfclEnvironment

        entry = _bfcl_entry(dataset, dialogue)
        return lambda: BfclEnvironment.from_entry(entry)
    from cm2.llm import make_client
    from cm2.tools.simulator import HybridToolSimulator

    path = Path(dataset)
    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist", param_hint="DATASET")
    llm = make_client(simulator.llm, role="tool_simulator") if simulator.llm else None
    base = HybridToolSimulator(_find_dialogue(path, dialogue), llm, simulator)
    return base.new_episode


@app.command("serve")
def serve(
    dataset: Annotated[str, typer.Argument(help="Dialogue file (simulated), or a BFCL category / JSONL file (bfcl).")],
    dialogue: Annotated[
        str | None, typer.Option("--dialogue", help="Dialogue uuid or BFCL entry id (default: the first).")
    ] = None,
    mode: Annotated[Mode, typer.Option(help="simulated: the hybrid simulator; bfcl: BFCL's real backends.")] = (
        Mode.simulated
    ),
    config: ConfigFile = None,
    sets: Sets = None,
    host: Annotated[str, typer.Option(help="Address to bind (HTTP transports).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (HTTP transports).")] = 8000,
    transport: Annotated[TransportChoice, typer.Option(help="stdio, sse or streamable-http.")] = (
        TransportChoice.stdio
    ),
) -> None:
    """Serve one dialogue's tools (with their JSON schemas) over MCP; each connection is one episode.

    Simulator settings (`cm2.tools.SimulatorConfig`) from --config / --set, e.g. --set llm.model=NAME
    --set llm.base_url=URL (without `llm`: recorded and checked answers only), --set max_attempts=3."""
    import anyio

    from cm2.tools.mcp_server import build_server, serve_async
    from cm2.tools.simulator import SimulatorConfig

    factory = _factory(dataset, dialogue, mode, command_config(SimulatorConfig, config, sets))
    server = build_server(factory, name=f"cm2-tools-{mode.value}")
    anyio.run(lambda: serve_async(server, transport.value, host=host, port=port))


def register(root: typer.Typer) -> None:
    """Add `cm2 tools` to the root app."""
    root.add_typer(app, name="tools")
