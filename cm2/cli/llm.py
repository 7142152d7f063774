"""`cm2 llm …`: serve a local model over an OpenAI-compatible API, and check an endpoint."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cm2.cli.options import ConfigFile, Sets, command_config
from cm2.cli.server_options import AllowedHosts, ServerKeyEnv, guard_config

llm_app = typer.Typer(no_args_is_help=True)
_PING_DEFAULTS = {"timeout_s": 60.0, "max_retries": 1}


@llm_app.command("serve")
def serve_command(
    model_path: Annotated[str, typer.Argument(help="Model folder (or cached hub id) loadable with from_pretrained.")],
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the server to the network.")] = (
        "127.0.0.1"
    ),
    chat_template: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Jinja chat template replacing the tokenizer's.")
    ] = None,
    model_name: Annotated[str | None, typer.Option(help="Name reported by /v1/models (default: folder name).")] = None,
    device: Annotated[str, typer.Option(help="torch device, e.g. cpu or cuda.")] = "cpu",
    dtype: Annotated[str, typer.Option(help="torch dtype (float32, bfloat16, …) or auto.")] = "auto",
    max_batch_size: Annotated[int, typer.Option(min=1, help="Concurrent requests generated as one batch.")] = 8,
    json_attempts: Annotated[int, typer.Option(min=1, help="Generations tried for a response_format answer.")] = 3,
    allowed_host: AllowedHosts = None,
    api_key_env: ServerKeyEnv = None,
) -> None:
    """Serve MODEL_PATH at /v1/chat/completions, /v1/models and /health (local Host names only, no
    cross-origin requests; --api-key-env to require a key)."""
    from cm2.llm.server import serve

    guard = guard_config(host, allowed_host, api_key_env)
    serve(
        model_path,
        host=host,
        port=port,
        chat_template=chat_template,
        model_name=model_name,
        device=device,
        dtype=dtype,
        max_batch_size=max_batch_size,
        json_attempts=json_attempts,
        guard=guard,
    )


@llm_app.command("ping")
def ping_command(
    config: ConfigFile = None,
    sets: Sets = None,
    prompt: Annotated[str, typer.Option(help="The user message.")] = "Say hello in five words.",
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API key.")] = "OPENAI_API_KEY",
    max_tokens: Annotated[int, typer.Option(min=1)] = 64,
    temperature: Annotated[float, typer.Option(min=0)] = 0.0,
    json_schema: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Ask for JSON matching this schema file.")
    ] = None,
) -> None:
    """Send one chat request and print the answer, the latency and the token counts.

    The endpoint is an LLMConfig: --config FILE and/or --set model=NAME --set base_url=URL (also
    api_key_env, timeout_s, max_retries, structured_output, …)."""
    from rich.console import Console

    from cm2.llm.config import LLMConfig
    from cm2.llm.openai_backend import OpenAIBackend
    from cm2.llm.protocol import ChatRequest, LLMError

    console = Console()
    endpoint = command_config(LLMConfig, config, sets, base=_PING_DEFAULTS if config is None else None)
    schema: dict[str, Any] | None = None
    if json_schema is not None:
        schema = json.loads(json_schema.read_text(encoding="utf-8"))
    request = ChatRequest(
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=temperature,
        json_schema=schema,
    )

    async def once() -> tuple[Any, OpenAIBackend]:
        async with OpenAIBackend(endpoint) as backend:
            return await backend.chat(request), backend

    start = time.perf_counter()
    try:
        response, backend = asyncio.run(once())
    except LLMError as exc:
        console.print(f"[red]error[/red] after {time.perf_counter() - start:.2f}s: {exc}", highlight=False)
        raise typer.Exit(1) from exc
    latency = time.perf_counter() - start
    console.print(response.text, markup=False, highlight=False)
    if response.parsed is not None:
        dialect = backend.dialect_for(backend.pool.endpoints[0])
        console.print(f"parsed JSON ({dialect}): {json.dumps(response.parsed, ensure_ascii=False)}", markup=False)
    if response.tool_calls:
        console.print(f"tool calls: {json.dumps(response.tool_calls, ensure_ascii=False)}", markup=False)
    console.print(
        f"model {response.model} · latency {latency:.2f}s · prompt {response.usage.prompt_tokens} tokens · "
        f"completion {response.usage.completion_tokens} tokens · finish {response.finish_reason}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add `cm2 llm serve` and `cm2 llm ping`."""
    app.add_typer(llm_app, name="llm", help="Serve a local model over an OpenAI-compatible API; check endpoints.")
