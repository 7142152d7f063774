"""The assistant's words in imported BFCL dialogues: a short plan per step and a reply per turn.

BFCL records only the calls of each turn, no reasoning and no reply. Templates fill both, so the
reference dialogues pass the think-tag rule and every turn ends in a visible reply. No LLM is used;
the wording is ours and says nothing the calls and their results do not show.
"""

from __future__ import annotations

from cm2.schema import join_think


def _names(names: list[str]) -> str:
    quoted = [f"`{name}`" for name in names]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + f" and {quoted[-1]}"


def step_thinking(names: list[str], position: int) -> str:
    """The plan before call `position` (0-based) of a turn whose calls are `names`."""
    total = len(names)
    if total == 1:
        return f"One call covers this request: `{names[0]}`."
    if position == 0:
        return f"Plan: {' → '.join(f'`{n}`' for n in names)}. Starting with `{names[0]}`."
    return f"`{names[position - 1]}` is done. Next, step {position + 1} of {total}: `{names[position]}`."


def call_content(names: list[str], position: int) -> str:
    """The content of the assistant message that makes call `position`: its plan as a `<think>` block."""
    return join_think(step_thinking(names, position), "")


def reply_content(names: list[str]) -> str:
    """The turn's final message: a `<think>` block and a short visible summary of what was done."""
    if not names:
        thinking = "A detail this request needs is missing, so no tool can run yet; I will ask for it."
        visible = "I can't do that yet: some information I need is missing. Could you tell me the missing details?"
        return join_think(thinking, visible)
    thinking = "Every step of the request has run; I will tell the user it is done."
    visible = f"Done. I completed your request with {_names(names)}."
    return join_think(thinking, visible)
