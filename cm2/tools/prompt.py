"""The simulation prompt: the tool's schema, recorded tool I/O as examples, earlier answers, the arguments."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from cm2.schema import ToolSpec
from cm2.schema.jsontext import loads_bounded

NONE_TEXT = "(none)"


@dataclass(frozen=True)
class Exchange:
    """One tool call and its response, as shown to the simulator."""

    tool: str
    arguments: dict[str, Any]
    response: str
    line: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Rendered once: every later prompt of the episode (or of every episode, for recorded ones) reuses it.
        record = {"tool": self.tool, "arguments": self.arguments, "response": _json_or_text(self.response)}
        object.__setattr__(self, "line", json.dumps(record, ensure_ascii=False, separators=(",", ":")))


def _json_or_text(text: str) -> Any:
    try:
        return loads_bounded(text)
    except json.JSONDecodeError:
        return text


@cache
def _template(name: str) -> str:
    return resources.files("cm2.tools").joinpath(f"prompts/{name}").read_text(encoding="utf-8")


def fit_budget(exchanges: Sequence[Exchange], priority: Sequence[int], budget: int) -> list[str]:
    """Rendered exchanges chosen in `priority` order (indices into `exchanges`) while they fit in `budget`
    characters (one that does not fit is skipped, a smaller later one may still fit); returned in their
    original order."""
    chosen: dict[int, str] = {}
    used = 0
    for index in priority:
        line = exchanges[index].line
        if used + len(line) + 1 <= budget:
            chosen[index] = line
            used += len(line) + 1
    return [chosen[i] for i in sorted(chosen)]


def select_examples(examples: Sequence[Exchange], tool: str, budget: int) -> list[str]:
    """Recorded exchanges within `budget`, kept in dialogue order; the called tool's have the first claim on
    the budget, the other tools' (which still carry facts of the same world) take what is left."""
    same = [i for i, ex in enumerate(examples) if ex.tool == tool]
    other = [i for i, ex in enumerate(examples) if ex.tool != tool]
    return fit_budget(examples, same + other, budget)


def select_history(history: Sequence[Exchange], budget: int) -> list[str]:
    """The episode's earlier answers within `budget`, the most recent kept first."""
    return fit_budget(history, list(range(len(history) - 1, -1, -1)), budget)


def _tag(*parts: str) -> str:
    # Derived from the data itself: deterministic (cache friendly) and not guessable by the data it wraps.
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()
    return f"#{digest[:12]}"


def simulation_messages(
    spec: ToolSpec,
    arguments: dict[str, Any],
    examples: Sequence[Exchange],
    history: Sequence[Exchange],
    *,
    example_budget: int,
    history_budget: int,
) -> list[dict[str, str]]:
    """Chat messages asking an LLM to write the response of `spec` to `arguments`."""
    spec_text = json.dumps(spec.function.dump(), ensure_ascii=False, indent=1)
    examples_text = "\n".join(select_examples(examples, spec.name, example_budget)) or NONE_TEXT
    history_text = "\n".join(select_history(history, history_budget)) or NONE_TEXT
    arguments_text = json.dumps(arguments, ensure_ascii=False, indent=1)
    values = {
        "{tool_spec}": spec_text,
        "{examples}": examples_text,
        "{history}": history_text,
        "{arguments}": arguments_text,
        "{tool_name}": spec.name,
        "{tag}": _tag(spec_text, examples_text, history_text, arguments_text),
    }
    request = _template("simulate_request.txt")
    # One pass over the template, so that placeholder-like text inside the data is never substituted again.
    pieces = _split_placeholders(request, list(values))
    user = "".join(values.get(piece, piece) for piece in pieces)
    return [
        {"role": "system", "content": _template("simulate_system.txt").strip()},
        {"role": "user", "content": user.strip()},
    ]


def _split_placeholders(text: str, names: list[str]) -> list[str]:
    """`text` cut into literal pieces and placeholder names."""
    pattern = re.compile("(" + "|".join(re.escape(n) for n in names) + ")")
    return [piece for piece in pattern.split(text) if piece]
