"""The verbs that serve or reach an endpoint: `cm2 serve` (a checkpoint over an OpenAI-compatible API, also
`cm2 llm serve`), `cm2 llm ping` (one request to an endpoint) and `cm2 tools serve` (a dialogue's tools over MCP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import anyio
import typer

from cm2.build import build_environments
from cm2.cli.guard import fail_on
from cm2.cli.options import ChatTemplate, configured
from cm2.cli.root import app
from cm2.console import say
from cm2.data.io import find_dialogue
from cm2.eval.serve import ServeConfig, serve_checkpoint
from cm2.llm.config import LLMConfig
from cm2.llm.ping import PING_DEFAULTS, ping
from cm2.llm.protocol import LLMError
from cm2.tools.mcp_server import build_server, serve_async
from cm2.tools.simulator import SimulatorConfig

llm_app = typer.Typer(no_args_is_help=True)
app.add_typer(llm_app, name="llm", help="Serve a local model over an OpenAI-compatible API; check endpoints.")
tools_app = typer.Typer(no_args_is_help=True, help="Tool environments: the hybrid simulator, BFCL backends, MCP.")
app.add_typer(tools_app, name="tools")


@app.command("serve")
@llm_app.command("serve")  # one server: `cm2 llm serve` is `cm2 serve`
@configured(
    ServeConfig, *(name for name in ServeConfig.model_fields if name != "allowed_hosts"), "allowed_hosts=allowed-host"
)
def serve_command(
    checkpoint: Annotated[
        str, typer.Argument(help="A transformers checkpoint folder (or a cached hub id).", show_default=False)
    ],
    chat_template: ChatTemplate = None,
    *,
    settings: ServeConfig,
) -> None:
    """Serve CHECKPOINT over an OpenAI-compatible API: /v1/chat/completions (tools → tool_calls),
    /v1/completions, /v1/models, /health (local Host names only, no cross-origin requests; --api-key-env to
    require a key). `cm2 llm serve` is the same command."""
    guard = settings.guard()  # an unset key variable: one error line before anything loads
    with fail_on(RuntimeError):
        serve_checkpoint(checkpoint, chat_template=chat_template, guard=guard, **settings.serve_options())


@llm_app.command("ping")
@configured(LLMConfig, base=PING_DEFAULTS)
def ping_command(
    prompt: Annotated[str, typer.Option(help="The user message.")] = "Say hello in five words.",
    max_tokens: Annotated[int, typer.Option(min=1)] = 64,
    temperature: Annotated[float, typer.Option(min=0)] = 0.0,
    json_schema: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Ask for JSON matching this schema file.")
    ] = None,
    *,
    settings: LLMConfig,
) -> None:
    """Send one chat request and print the answer, the latency and the token counts.

    The endpoint is an LLMConfig: --config FILE and/or --set model=NAME --set base_url=URL (also
    api_key_env, timeout_s, max_retries, structured_output, …)."""
    schema = json.loads(json_schema.read_text(encoding="utf-8")) if json_schema is not None else None
    with fail_on(LLMError, code=1):
        answer = ping(settings, prompt, json_schema=schema, max_tokens=max_tokens, temperature=temperature)
    say(*answer.lines())


@tools_app.command("serve")
@configured(SimulatorConfig)
def tools_serve_command(
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
    make = build_environments(tools, settings)
    chosen = find_dialogue(dataset, dialogue)
    server = build_server(lambda: make(chosen), name=f"cm2-tools-{tools}")
    anyio.run(lambda: serve_async(server, transport, host=host, port=port))
