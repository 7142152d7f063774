"""`cm2 serve` (alias `cm2 llm serve`): a local model or trained policy behind an OpenAI-compatible API.

The app is `cm2.llm.server.create_app` (chat completions with `tools`/`tool_calls`, `/v1/models`,
`/health`, `/v1/completions` for harnesses that format prompts themselves, unknown request fields such as
`store` tolerated) fed by a `CheckpointGenerator`. With vLLM installed and a GPU
present, `engine="vllm"` runs vLLM's own server instead (its `hermes` tool parser reads the same
`<tool_call>{json}</tool_call>` blocks). cm2's app runs behind `cm2.llm.guard` (Host allow-list, no
cross-origin requests, optional API key); vLLM's server gets only the API key (`VLLM_API_KEY`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from cm2.eval.checkpoint import DEFAULT_MAX_NEW_TOKENS, CheckpointGenerator
from cm2.llm.guard import GuardConfig, guarded
from cm2.llm.server import create_app

Engine = Literal["auto", "transformers", "vllm"]


class ServeConfig(BaseModel):
    """How `cm2 serve` serves a checkpoint: where, with which engine, and who may talk to it (`cm2.llm.guard`)."""

    host: str = Field(default="127.0.0.1", description="Interface to bind (0.0.0.0 exposes it to the network).")
    port: int = Field(default=8000, ge=1, le=65535, description="Port to bind.")
    model_name: str | None = Field(default=None, description="Name clients use (default: the folder's name).")
    engine: Engine = Field(default="auto", description="auto: vLLM when installed and a GPU is present.")
    device: str | None = Field(default=None, description="transformers: torch device (default: cuda if any).")
    dtype: str = Field(default="auto", description="transformers: torch dtype name, or auto.")
    max_batch_size: int = Field(default=8, ge=1, description="transformers: requests generated together.")
    max_new_tokens: int = Field(default=DEFAULT_MAX_NEW_TOKENS, ge=1, description="Default answer length cap.")
    json_attempts: int = Field(default=3, ge=1, description="Generations tried for a response_format answer.")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Extra Host name clients may use (localhost, 127.0.0.1, [::1] and the bound host always are); "
        "'*' accepts any (behind a proxy).",
    )
    api_key_env: str | None = Field(
        default=None,
        description="Environment variable holding an API key clients must send as 'Authorization: Bearer'.",
    )

    def guard(self) -> GuardConfig:
        """The guard of a server with these settings; ValueError when the key variable is named but unset."""
        guard = GuardConfig(bound_host=self.host, allowed_hosts=self.allowed_hosts, api_key_env=self.api_key_env)
        guard.api_key()
        return guard

    def serve_options(self) -> dict[str, Any]:
        """The keyword arguments of `serve_checkpoint` besides the checkpoint, chat template and guard."""
        return self.model_dump(exclude={"allowed_hosts", "api_key_env"})


log = logging.getLogger("cm2.eval.serve")


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
    json_attempts: int = 3,
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
    app = create_app(generator, name, json_attempts=json_attempts)
    uvicorn.run(guarded(app, guard), host=host, port=port, log_level="info")


@contextmanager
def served_checkpoint(checkpoint: str | Path, *, model_name: str | None = None, **load: Any) -> Iterator[str]:
    """Serve `checkpoint` in this process on a free port of 127.0.0.1 for the block; yields the base URL
    (ending in /v1). Keyword arguments go to `CheckpointGenerator.load`."""
    from cm2.llm.testing import BackgroundServer

    generator = CheckpointGenerator.load(checkpoint, **load)
    app = guarded(create_app(generator, model_name_for(checkpoint, model_name)))
    with BackgroundServer(app) as server:
        yield f"{server.url}/v1"
