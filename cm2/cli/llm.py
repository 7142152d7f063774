"""`cm2 llm …`: serve a local model over an OpenAI-compatible API, and check an endpoint."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from cm2.cli.eval import serve_command
from cm2.cli.guard import fail, say
from cm2.cli.options import configured
from cm2.cli.root import app
from cm2.llm.config import LLMConfig
from cm2.llm.ping import PING_DEFAULTS

llm_app = typer.Typer(no_args_is_help=True)
app.add_typer(llm_app, name="llm", help="Serve a local model over an OpenAI-compatible API; check endpoints.")
llm_app.command("serve")(serve_command)  # one server: `cm2 llm serve` is `cm2 serve`


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
    from cm2.llm.ping import ping
    from cm2.llm.protocol import LLMError

    schema = json.loads(json_schema.read_text(encoding="utf-8")) if json_schema is not None else None
    start = time.perf_counter()
    try:
        answer = ping(settings, prompt, json_schema=schema, max_tokens=max_tokens, temperature=temperature)
    except LLMError as exc:
        raise fail(f"after {time.perf_counter() - start:.2f}s: {exc}", 1) from exc
    say(*answer.lines())
