"""The options commands share: `--config FILE`, repeatable `--set a.b=VALUE` and flags generated from the config
model (`configured`); `--from` for an input's file format and `--chat-template` for a served checkpoint."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cm2.config import field_at, load_config, parse_overrides
from cm2.data.raw import FileFormat

ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", exists=True, dir_okay=False, help="YAML config file (its sections: see --set)."),
]
RunConfigFile = Annotated[
    Path, typer.Option("--config", exists=True, dir_okay=False, help="YAML run config (see configs/*.yaml).")
]
InputFormat = Annotated[
    FileFormat | None, typer.Option("--from", "--format", help="Input file format (default: from the input's name).")
]
ChatTemplate = Annotated[
    Path | None, typer.Option(exists=True, dir_okay=False, help="Jinja chat template for --checkpoint.")
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


def configured(
    model: type[BaseModel],
    *names: str,
    base: BaseModel | Mapping[str, Any] | None = None,
    required: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command `--config FILE` (`required` or not), `--set KEY=VALUE` and the `model_flags` of `names`, and
    hand it the `model` they make as `settings`, plus the file as `config` when it has such a parameter.

    The settings are the file's (else `base`, else the defaults), then the flags given, then the `--set`
    overrides; a bad value raises ValueError naming the file or the override (one `error:` line)."""
    file_option = (RunConfigFile, inspect.Parameter.empty) if required else (ConfigFile, None)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        wants_file = "config" in signature.parameters
        params = [p for p in signature.parameters.values() if p.name not in ("settings", "config")]

        @functools.wraps(command)
        def run(*args: Any, config: Path | None, sets: list[str] | None, flags: dict[str, Any], **kwargs: Any) -> Any:
            settings = load_config(model, config, {**flags, **parse_overrides(sets or [])}, base=base)
            return command(*args, settings=settings, **({"config": config} if wants_file else {}), **kwargs)

        shared = [_option("config", *file_option), _option("sets", Sets)]
        run.__signature__ = signature.replace(parameters=[*params, *shared])  # type: ignore[attr-defined]
        return model_flags(model, *names, options=options)(run)

    return decorate


def model_flags(
    model: type[BaseModel], *names: str, options: Mapping[str, Any] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command `--field` options for `model`'s fields `names`; it receives the ones given as `flags`, a
    mapping of dotted field names to values (overrides, as `--set` gives them).

    A flag takes its type and help from the field: a dotted name reaches a nested field and its flag is named
    after the last part, `field=flag-name` names it; a list field is repeatable and takes comma-separated values,
    a bool one is `--x/--no-x`; `options` declares some by hand instead (`Annotated[T | None, typer.Option(...)]`)."""
    renamed = {field: flag for field, _, flag in (name.partition("=") for name in names)}
    fields = {name: field_at(model, name) for name in renamed}
    lists = {name for name, field in fields.items() if typing.get_origin(field.annotation) is list}
    params_of = {name: (flag or name.rpartition(".")[2]).replace("-", "_") for name, flag in renamed.items()}
    hand = options or {}
    generated = [_flag(fields[name], name, params_of[name], name in lists, hand.get(name)) for name in renamed]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        params = [p for p in signature.parameters.values() if p.name != "flags"]

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(param) for name, param in params_of.items()}
            flags = {name: split_values(value) if name in lists else value for name, value in given.items()}
            return command(*args, flags={k: v for k, v in flags.items() if v is not None}, **kwargs)

        run.__signature__ = signature.replace(parameters=[*params, *generated])  # type: ignore[attr-defined]
        return run

    return decorate


def _option(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _flag(field: FieldInfo, name: str, param: str, listed: bool, declared: Any = None) -> inspect.Parameter:
    """An optional `--name` option for the field `name` (None when not given: the config's value stands), made
    from the field unless `declared` by hand."""
    if declared is not None:
        return _option(param, declared)
    union = typing.get_origin(field.annotation) in (typing.Union, types.UnionType)
    args = [arg for arg in typing.get_args(field.annotation) if arg is not type(None)] if union else []
    as_text = len(args) > 1  # a union such as int | float | "all": pydantic reads the text
    kind: Any = list[str] if listed else str if as_text else (args[0] if args else field.annotation)
    help_text = (field.description or param.replace("_", " ")).rstrip(".") + (" (repeatable, or A,B)" if listed else "")
    flag = f"--{param.replace('_', '-')}"
    names = f"{flag}/--no-{flag[2:]}" if kind is bool else flag
    option = typer.Option(names, metavar="A,B" if listed else None, help=f"{help_text} (= --set {name}=…).")
    return _option(param, Annotated[kind | None, option])


def split_values(values: list[str] | None) -> list[str] | None:
    """Repeated and/or comma-separated values as one list (None when the flag was not given)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()] if values else None
