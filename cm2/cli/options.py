"""The options every configurable command shares: `--config FILE` and repeatable `--set a.b=VALUE`."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", exists=True, dir_okay=False, help="YAML config file (its sections: see --set)."),
]
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override one config value, dotted, value read as YAML, e.g. --set judge.llm.model=gpt-4o-mini "
        "(repeatable).",
    ),
]


def command_config(
    model: type[M],
    config: Path | None,
    sets: list[str] | None,
    *,
    base: BaseModel | Mapping[str, Any] | None = None,
    **fields: Any,
) -> M:
    """`model` from `--config` (else `base`, else defaults), then `fields` (the command's own flags, None
    ones skipped), then `--set` overrides; raises ValueError naming the file or override (one `error:` line)."""
    from cm2.config import load_config, parse_overrides

    flags = {name: value for name, value in fields.items() if value is not None}
    overrides = {**flags, **parse_overrides(sets or [])}
    return load_config(model, config, overrides, base=base)


def model_flags(model: type[BaseModel], *names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command `--field` options generated from `model`'s fields `names` (type and help from the
    model; a list field takes comma-separated values). The command receives the ones given as `flags`,
    a mapping to pass on to `command_config` (where `--set` still wins)."""
    lists = {name for name in names if typing.get_origin(model.model_fields[name].annotation) is list}

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        params = [p for p in signature.parameters.values() if p.name != "flags"]

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in names}
            flags = {name: _split(value) if name in lists else value for name, value in given.items()}
            return command(*args, flags={k: v for k, v in flags.items() if v is not None}, **kwargs)

        generated = [_flag(model, name, name in lists) for name in names]
        run.__signature__ = signature.replace(parameters=[*params, *generated])  # type: ignore[attr-defined]
        return run

    return decorate


def _flag(model: type[BaseModel], name: str, listed: bool) -> inspect.Parameter:
    """An optional `--name` option for the field `name` (None when not given: the config's value stands)."""
    field = model.model_fields[name]
    args = [arg for arg in typing.get_args(field.annotation) if arg is not type(None)]
    kind: Any = (
        str if listed or typing.get_origin(field.annotation) is Literal else (args[0] if args else field.annotation)
    )
    help_text = (field.description or name.replace("_", " ")).rstrip(".") + (", comma-separated" if listed else "")
    option = typer.Option(f"--{name.replace('_', '-')}", help=f"{help_text} (= --set {name}=…).")
    annotation = Annotated[kind | None, option]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]
