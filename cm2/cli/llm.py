"""`cm2 llm …`: serve a local model over an OpenAI-compatible API, and check an endpoint."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cm2.cli.eval import serve_command
from cm2.cli.options import ConfigFile, Sets, command_config

llm_app = typer.Typer(no_args_is_help=True)
llm_app.command("serve")(serve_command)  # one server: `cm2 llm serve` is `cm2 serve`
_PING_DEFAULTS = {"timeout_s": 60.0, "max_retries": 1}


@llm_app.command("ping")
def ping_command(
    config: ConfigFile = None,
    sets: Sets = None,
    prompt: Annotated[str, typer.Option(help="The user message.")] = "Say hello in five words.",
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
    """Add `cm2 llm serve` (the same command as `cm2 serve`) and `cm2 llm ping`."""
    app.add_typer(llm_app, name="llm", help="Serve a local model over an OpenAI-compatible API; check endpoints.")
