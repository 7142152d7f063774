"""Named registries: a config names a tool environment, judge or LLM backend, and the registry finds it.

An entry is registered with a decorator (`@registry.register("name")`), lazily as `"module:attr"` (the module
is imported only when that name is chosen), or by an installed package through the entry-point group the
registry names (e.g. `[project.entry-points."cm2.environments"] mine = "my_pkg.tools:factory"`), which is
how optional plug-ins such as benchmarks register without any core module naming them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownName(ValueError):
    """A config names an entry no registry holds."""


def load_target(target: str) -> Any:
    """The object `"package.module:attr.sub"` points at (the module is imported now)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"expected 'module:attribute', got {target!r}")
    found: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        found = getattr(found, part)
    return found


class Registry(Generic[T]):
    """Names to objects of one kind (`what` says which, for error messages); `group` is the entry-point group
    read once, on the first lookup, for entries of installed plug-ins."""

    def __init__(self, what: str, group: str | None = None):
        self.what = what
        self.group = group
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._discovered = group is None

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator registering its target under `name` (a later registration replaces an earlier one)."""

        def add(target: T) -> T:
            self._entries[name] = target
            self._lazy.pop(name, None)
            return target

        return add

    def register_lazy(self, name: str, target: str) -> None:
        """Register `"module:attr"` under `name`; the module is imported when `name` is first looked up."""
        if ":" not in target:
            raise ValueError(f"{self.what} {name!r}: expected 'module:attribute', got {target!r}")
        if name not in self._entries:
            self._lazy[name] = target

    def names(self) -> list[str]:
        """Every registered name, sorted (lazy ones included, none of them imported)."""
        self._discover()
        return sorted({*self._entries, *self._lazy})

    def check(self, name: str) -> str:
        """`name` when registered, else an `UnknownName` error listing the known names (for config validators)."""
        known_names = self.names()
        if name not in known_names:
            known = ", ".join(known_names) or "(none)"
            hint = (
                f"; installed plug-ins register through the entry-point group {self.group!r} (after changing "
                "them, reinstall the package: pip install --no-deps -e .)"
                if self.group
                else ""
            )
            raise UnknownName(f"unknown {self.what} {name!r}; known: {known}{hint}")
        return name

    def get(self, name: str) -> T:
        """The entry registered under `name` (imported now if it was registered lazily)."""
        found = self._entries.get(name)
        if found is not None:
            return found
        self.check(name)
        target = self._lazy.pop(name)
        try:
            found = self._entries[name] = load_target(target)
        except (ImportError, AttributeError) as exc:
            self._lazy[name] = target
            raise ImportError(f"{self.what} {name!r} ({target}) could not be loaded: {exc}") from exc
        return found

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for point in entry_points(group=self.group or ""):
            self.register_lazy(point.name, point.value)
