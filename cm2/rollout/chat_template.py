"""Chat templates cm2 ships for models whose files carry none (e.g. the Gemma-3-270M GGUF)."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

GEMMA_STOP_STRINGS = ("<end_of_turn>", "</tool_call>")


def gemma_tools_template() -> str:
    """The Jinja source of cm2's Gemma-style template with tool calls and tool responses."""
    return (files("cm2.rollout") / "chat_templates" / "gemma_tools.jinja").read_text(encoding="utf-8")


def ensure_chat_template(tokenizer: Any, template: str | None = None) -> None:
    """Give `tokenizer` a chat template: `template` if given, else cm2's Gemma one when it has none."""
    if template is not None:
        tokenizer.chat_template = template
    elif not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = gemma_tools_template()
