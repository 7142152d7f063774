"""The options every configurable command shares: `--config FILE` and repeatable `--set a.b=VALUE`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

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
