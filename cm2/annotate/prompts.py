"""Prompt templates shipped as package data (`cm2/annotate/prompts/*.txt`)."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_prompt(name: str) -> str:
    """The text of `prompts/<name>.txt`."""
    return resources.files("cm2.annotate").joinpath(f"prompts/{name}.txt").read_text(encoding="utf-8")


def fill(template: str, **values: object) -> str:
    """Replace each `{key}` of `template` by its value (other braces, e.g. JSON examples, are left alone)."""
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def render_prompt(name: str, **values: object) -> str:
    """`load_prompt(name)` filled with `values`, without trailing whitespace."""
    return fill(load_prompt(name), **values).strip()
