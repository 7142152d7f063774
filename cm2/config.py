"""The one config mechanism of cm2: pydantic models loaded from a YAML file plus dotted `a.b=c` overrides.

Every command reads its settings through `load_config(Model, path, overrides)`: the file (optional) gives
the values, each override replaces one of them, and pydantic checks the result. Unknown keys are errors,
so a typo never passes silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

M = TypeVar("M", bound=BaseModel)
Overrides = Mapping[str, Any] | Iterable[str] | None
"""Dotted overrides: a mapping `{"a.b": value}`, or `"a.b=value"` strings whose value is read as YAML (`3` is a
number, `[x, y]` a list, `{k: v}` a mapping, `null` None)."""


class YamlConfig(BaseModel):
    """A config model with `from_yaml`; unknown keys are errors, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Overrides = None, *, key: str | None = None) -> Self:
        """Load from a YAML file; `key` ("roles.judge") picks a nested mapping; `overrides` as in `load_config`."""
        return load_config(cls, path, overrides, key=key)

    @classmethod
    def from_file_mapping(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Turn a file's mapping into the model's fields (override for files with another shape)."""
        return data


def load_config(
    model: type[M],
    path: str | Path | None = None,
    overrides: Overrides = None,
    *,
    key: str | None = None,
    base: BaseModel | Mapping[str, Any] | None = None,
) -> M:
    """`model` from the YAML file at `path` (or from `base`, or its defaults, when None), with `overrides`
    applied; `key` ("roles.judge") picks a nested mapping of the file. Raises ValueError naming the file
    (or the override) and the field."""
    data = read_mapping(path, key) if path is not None else _plain(base)
    from_file = getattr(model, "from_file_mapping", None)
    if path is not None and from_file is not None:
        data = from_file(data)
    dotted = parse_overrides(overrides)
    for name, value in dotted.items():
        set_dotted(data, name, value)
    where = f"{path}: " if path is not None else ("--set: " if dotted else "")
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{where}invalid {model.__name__}: {_errors(exc)}") from exc
    ignored = ignored_keys(model, data)
    if ignored:
        raise ValueError(f"{where}invalid {model.__name__}: {ignored[0]}: no such setting")
    return config


def ignored_keys(model: type[BaseModel], data: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys of `data` that a nested model would silently drop (its `extra` is not "forbid"), so that
    a typo such as `episode.limits.max_turn` is an error wherever it sits."""
    found: list[str] = []
    forbids = model.model_config.get("extra") in ("forbid", "allow")
    for key, value in data.items():
        field = model.model_fields.get(str(key))
        if field is None:
            if not forbids:
                found.append(f"{prefix}{key}")
            continue
        if isinstance(value, Mapping):
            for nested in _models(field.annotation):
                found += ignored_keys(nested, value, f"{prefix}{key}.")
                break
    return found


def field_at(model: type[BaseModel], dotted: str) -> FieldInfo:
    """The field a dotted override such as `judge.llm.model` sets, through nested models (`X | None` too)."""
    *parents, leaf = dotted.split(".")
    for part in parents:
        model = _models(model.model_fields[part].annotation)[0]
    return model.model_fields[leaf]


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation names (`X`, `X | None`, …)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models(arg)]


def read_mapping(path: str | Path, key: str | None = None) -> dict[str, Any]:
    """The mapping a YAML file holds (at `key`, dotted, when given)."""
    path = Path(path)
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the config ({exc})") from exc
    for part in key.split(".") if key else []:
        if not isinstance(data, dict) or part not in data:
            raise ValueError(f"{path}: no key {key!r} (missing {part!r})")
        data = data[part]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config must be a mapping, not {type(data).__name__}")
    return data


def parse_overrides(overrides: Overrides) -> dict[str, Any]:
    """`{"a.b": value}` from a mapping or from `"a.b=value"` strings (YAML values)."""
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return dict(overrides)
    parsed: dict[str, Any] = {}
    for item in overrides:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip() or any(not part for part in name.strip().split(".")):
            raise ValueError(f"--set: expected KEY=VALUE with a dotted KEY such as judge.llm.model=NAME, got {item!r}")
        try:
            parsed[name.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ValueError(f"--set {name.strip()}: the value is not valid YAML ({exc})") from exc
    return parsed


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `data["a"]["b"] = value` for `dotted="a.b"`, creating mappings on the way."""
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[leaf] = value


def _plain(base: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
    if base is None:
        return {}
    if isinstance(base, BaseModel):
        return base.model_dump(mode="json")
    return dict(base)


def _errors(exc: ValidationError) -> str:
    """pydantic's errors on one line each: `field.path: message`."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}" for error in exc.errors()
    )


ENDPOINT_KEYS = {"judge_llm": "judge.llm", "simulator_llm": "simulator.llm"}
"""Where the endpoints of older config files now live: every role's endpoint is its section's `llm`."""


def move_keys(data: Any, moves: Mapping[str, str] = ENDPOINT_KEYS) -> Any:
    """`data` with each old top-level key moved to its dotted new place (a pydantic `before` validator); when
    both are mappings they merge, the new place winning (a file's old key plus a `--set` on the new one)."""
    if not isinstance(data, dict) or not moves.keys() & data.keys():
        return data
    data = dict(data)
    for old, new in moves.items():
        if old not in data:
            continue
        value = data.pop(old)
        section, _, leaf = new.rpartition(".")
        node = data.get(section)
        node = dict(node) if isinstance(node, dict) else {} if node is None else node
        if not isinstance(node, dict):
            continue
        current = node.get(leaf)
        if isinstance(value, dict) and isinstance(current, dict):
            node[leaf] = {**value, **current}
        elif current is None:
            node[leaf] = value
        data[section] = node
    return data
