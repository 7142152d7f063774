"""`cm2 serve`: a trained policy behind an OpenAI-compatible API.

The app is `cm2.llm.server.create_app` (chat completions with `tools`/`tool_calls`, `/v1/models`,
`/health`, unknown request fields such as `store` tolerated) fed by a `CheckpointGenerator`, plus a
`/v1/completions` route for harnesses that format prompts themselves. With vLLM installed and a GPU
present, `engine="vllm"` runs vLLM's own server instead (its `hermes` tool parser reads the same
`<tool_call>{json}</tool_call>` blocks). cm2's app runs behind `cm2.llm.guard` (Host allow-list, no
cross-origin requests, optional API key); vLLM's server gets only the API key (`VLLM_API_KEY`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cm2.eval.checkpoint import DEFAULT_MAX_NEW_TOKENS, CheckpointGenerator
from cm2.llm.guard import GuardConfig, guarded
from cm2.llm.protocol import ChatRequest, ChatResponse
from cm2.llm.server import create_app

Engine = Literal["auto", "transformers", "vllm"]
log = logging.getLogger("cm2.eval.serve")


class ServedGenerator(Protocol):
    """What the served app needs: chat answers and raw-prompt continuations."""

    async def generate(self, request: ChatRequest) -> ChatResponse: ...

    async def complete(
        self,
        prompt: str,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        stop: list[str] | None = None,
    ) -> ChatResponse: ...


class CompletionsBody(BaseModel):
    """The part of an OpenAI completions request the server reads; other fields are tolerated."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    prompt: str | list[str]
    max_tokens: int | None = Field(default=16, ge=1, description="OpenAI's default is 16 tokens.")
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=64)
    echo: bool = False
    stream: bool = False


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)


def create_serve_app(generator: ServedGenerator, model_name: str) -> Starlette:
    """The ASGI app of `cm2 serve`: cm2.llm's chat server plus `/v1/completions`."""
    chat = create_app(generator, model_name)

    async def completions(http: Request) -> Response:
        try:
            body = CompletionsBody.model_validate(await http.json())
        except ValueError as exc:  # not JSON, or not a completions request
            return _error(400, str(exc) if isinstance(exc, ValidationError) else "the request body is not JSON")
        if body.stream:
            return _error(400, "stream=true is not supported on /v1/completions")
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        stop = [body.stop] if isinstance(body.stop, str) else body.stop
        jobs = [
            generator.complete(
                prompt,
                temperature=body.temperature,
                top_p=body.top_p,
                max_tokens=body.max_tokens,
                seed=body.seed,
                stop=stop,
            )
            for prompt in prompts
            for _ in range(body.n)
        ]
        answers = await asyncio.gather(*jobs)
        choices = [
            {
                "index": i,
                "text": (prompts[i // body.n] if body.echo else "") + answer.text,
                "logprobs": None,
                "finish_reason": answer.finish_reason or "stop",
            }
            for i, answer in enumerate(answers)
        ]
        prompt_tokens = sum(a.usage.prompt_tokens for a in answers[:: body.n])
        completion_tokens = sum(a.usage.completion_tokens for a in answers)
        return JSONResponse(
            {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": model_name,
                "choices": choices,
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    return Starlette(routes=[*chat.routes, Route("/v1/completions", completions, methods=["POST"])])


def model_name_for(checkpoint: str | Path, model_name: str | None = None) -> str:
    """The name clients use for the served model: `model_name`, else the checkpoint folder's name."""
    return model_name or Path(str(checkpoint)).resolve().name


def vllm_available() -> bool:
    """Whether vLLM is importable and a CUDA device is present."""
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _has_chat_template(checkpoint: str | Path) -> bool:
    from transformers import AutoTokenizer

    return bool(getattr(AutoTokenizer.from_pretrained(str(checkpoint)), "chat_template", None))


def vllm_command(
    checkpoint: str | Path, *, host: str, port: int, model_name: str, chat_template: str | Path | None
) -> list[str]:
    """The command line of vLLM's OpenAI server for `checkpoint`, tool calls parsed from `<tool_call>` blocks."""
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(checkpoint),
        "--host",
        host,
        "--port",
        str(port),
        "--served-model-name",
        model_name,
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        "hermes",
    ]
    if chat_template is not None:
        command += ["--chat-template", str(chat_template)]
    return command


def serve_checkpoint(
    checkpoint: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    chat_template: str | Path | None = None,
    model_name: str | None = None,
    engine: Engine = "auto",
    device: str | None = None,
    dtype: str = "auto",
    max_batch_size: int = 8,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    guard: GuardConfig | None = None,
) -> None:
    """Serve `checkpoint` until interrupted (blocking), behind `guard` (default: local hosts and `host`)."""
    name = model_name_for(checkpoint, model_name)
    guard = guard or GuardConfig(bound_host=host)
    key = guard.api_key()  # a named key variable that is unset fails before anything loads
    if engine == "vllm" or (engine == "auto" and vllm_available()):
        if engine == "vllm" and importlib.util.find_spec("vllm") is None:
            raise RuntimeError("engine 'vllm' asked for, but vLLM is not installed (pip install vllm)")
        log.warning("vLLM's own server checks the API key only, not Host or Origin headers")
        env = {**os.environ, "VLLM_API_KEY": key.get_secret_value()} if key is not None else None
        with as_file(files("cm2.rollout") / "chat_templates" / "gemma_tools.jinja") as fallback:
            template = chat_template or (None if _has_chat_template(checkpoint) else fallback)
            command = vllm_command(checkpoint, host=host, port=port, model_name=name, chat_template=template)
            raise SystemExit(subprocess.call(command, env=env))
    import uvicorn

    generator = CheckpointGenerator.load(
        checkpoint,
        chat_template=chat_template,
        device=device,
        dtype=dtype,
        max_batch_size=max_batch_size,
        max_new_tokens=max_new_tokens,
    )
    uvicorn.run(guarded(create_serve_app(generator, name), guard), host=host, port=port, log_level="info")


@contextmanager
def served_checkpoint(checkpoint: str | Path, *, model_name: str | None = None, **load: Any) -> Iterator[str]:
    """Serve `checkpoint` in this process on a free port of 127.0.0.1 for the block; yields the base URL
    (ending in /v1). Keyword arguments go to `CheckpointGenerator.load`."""
    from cm2.llm.testing import BackgroundServer

    generator = CheckpointGenerator.load(checkpoint, **load)
    app = guarded(create_serve_app(generator, model_name_for(checkpoint, model_name)))
    with BackgroundServer(app) as server:
        yield f"{server.url}/v1"
