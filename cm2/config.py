"""Configs are pydantic models loadable from YAML files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class YamlConfig(BaseModel):
    """A config model with `from_yaml`; unknown keys are errors, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict[str, Any] | None = None, *, key: str | None = None) -> Self:
        """Load from a YAML file; `key` ("roles.judge") picks a nested mapping; `overrides` maps dotted
        keys (`model.path`) to values, None values ignored (command-line flags left unset)."""
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
        data = cls.from_file_mapping(data)
        for dotted, value in (overrides or {}).items():
            if value is not None:
                set_dotted(data, dotted, value)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ValueError(f"{path}: invalid {cls.__name__}\n{exc}") from exc

    @classmethod
    def from_file_mapping(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Turn a file's mapping into the model's fields (override for files with another shape)."""
        return data


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
