"""Named registries: decorator and lazy registration, entry-point plug-ins, clear errors for unknown names."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cm2.registry import Registry, UnknownName


def test_a_decorated_entry_is_found_by_name() -> None:
    registry: Registry[object] = Registry("widget")

    @registry.register("square")
    def square(x: int) -> int:
        return x * x

    assert registry.get("square") is square
    assert registry.names() == ["square"]


def test_an_unknown_name_lists_the_known_ones() -> None:
    registry: Registry[object] = Registry("widget", group="cm2.no_such_group")
    registry.register("b")(1)
    registry.register_lazy("a", "json:dumps")
    with pytest.raises(UnknownName, match=r"unknown widget 'c'; known: a, b; installed plug-ins .*'cm2.no_such_group'"):
        registry.get("c")
    assert registry.check("a") == "a"


def test_a_lazy_entry_imports_its_module_only_when_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cm2_lazy_probe.py").write_text("VALUE = 42\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[object] = Registry("widget")
    registry.register_lazy("probe", "cm2_lazy_probe:VALUE")
    assert registry.names() == ["probe"] and "cm2_lazy_probe" not in sys.modules
    assert registry.get("probe") == 42 and "cm2_lazy_probe" in sys.modules
    monkeypatch.delitem(sys.modules, "cm2_lazy_probe")


def test_lazy_targets_are_checked_and_a_broken_one_says_which_entry(tmp_path: Path) -> None:
    registry: Registry[object] = Registry("widget")
    with pytest.raises(ValueError, match=r"widget 'x': expected 'module:attribute', got 'json.dumps'"):
        registry.register_lazy("x", "json.dumps")
    registry.register_lazy("gone", "cm2_no_such_module:thing")
    with pytest.raises(ImportError, match=r"widget 'gone' \(cm2_no_such_module:thing\) could not be loaded"):
        registry.get("gone")
    assert registry.names() == ["gone"]  # still registered: the next lookup tries again


def test_installed_plug_ins_register_through_their_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real distribution's metadata on sys.path, as `pip install` writes it, registers an entry by name."""
    info = tmp_path / "cm2_widget_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cm2-widget-plugin\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[cm2.test_widgets]\nencode = json:dumps\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[object] = Registry("widget", group="cm2.test_widgets")
    registry.register("built_in")(len)
    assert registry.names() == ["built_in", "encode"]
    assert registry.get("encode") is json.dumps
