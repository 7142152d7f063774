"""Responders for `cm2.llm.testing.FakeOpenAIServer` that play a model on BFCL: one that answers every turn
with the entry's ground-truth calls (a perfect model) and one that refuses (tests, benchmarks, sanity checks
of the harness)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cm2.benchmarks.bfcl.environment import BfclEnvironment, load_entry, load_ground_truth
from cm2.llm.testing import completion_body

HOLDOUT_TURN = "(held-out functions added)"


class GroundTruthReplay:
    """Answers a BFCL conversation with the entry's ground-truth calls, turn by turn.

    The entry is recognised by the user messages so far (entries share first messages, never the whole
    sequence within a category); the turn is the number of user messages. After the calls of a turn
    have been answered by tool messages, it replies with text, which ends the turn.
    """

    def __init__(self, entry_ids: list[str]):
        self.entries: list[tuple[list[str], list[list[dict[str, Any]]]]] = []
        for entry_id in entry_ids:
            entry = load_entry(entry_id)
            env = BfclEnvironment.from_entry(entry)
            turns = []
            for t, calls in enumerate(load_ground_truth(entry_id)):
                parsed = [env.parse_call(text) for text in calls]
                turns.append(
                    [
                        {"id": f"gt_{t}_{i}", "type": "function", "function": call.function.model_dump()}
                        for i, call in enumerate(parsed)
                    ]
                )
            users = [q[0]["content"] if q else HOLDOUT_TURN for q in entry["question"]]
            self.entries.append((users, turns))

    def calls_for(self, users: list[str]) -> list[dict[str, Any]]:
        """The ground-truth calls of the current turn, given the user messages so far."""
        turn = len(users) - 1
        answers = [
            calls[turn]
            for expected, calls in self.entries
            if len(expected) > turn
            and all(e in (u, HOLDOUT_TURN) for e, u in zip(expected[: turn + 1], users, strict=True))
        ]
        if not answers or any(a != answers[0] for a in answers):
            raise ValueError(f"turn {turn}: {len(answers)} entries match the conversation, with different answers")
        return answers[0]

    def __call__(self, body: dict[str, Any]) -> dict[str, Any] | str:
        messages = body["messages"]
        calls = self.calls_for([str(m["content"]) for m in messages if m["role"] == "user"])
        if messages[-1]["role"] == "user" and calls:
            return completion_body(None, finish_reason="tool_calls", tool_calls=calls, completion_tokens=len(calls))
        return "Done."


def refuse(body: dict[str, Any]) -> str:
    """A model that never calls a tool."""
    return "I cannot help with that."


IMPORT_MARKER = "tabnanny"
"""A standard-library module nothing in cm2 or its tests imports: hostile calls try to import it."""


def hostile_calls(marker_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """(tool name, arguments) pairs that run code or import `IMPORT_MARKER` when a BFCL executor `eval`s them
    unchecked (files appear in `marker_dir`): injection through the name, the keys and the values."""
    touch = f"__import__('pathlib').Path({str(marker_dir / 'touched')!r})"
    imp = f"__import__({IMPORT_MARKER!r})"
    names = [
        f"__import__('os').system('touch {marker_dir / 'X'}') or len",  # the reported payloads
        f"{touch}.touch() or ls",  # attribute access
        f"ls.__globals__['__builtins__']['__import__']({IMPORT_MARKER!r}) or ls",  # dunder attributes
        f"(lambda: {imp})() or ls",  # lambda
        f"[{imp} for _ in 'a'] and ls",  # comprehension
        f"f'{{{imp}}}' and ls",  # f-string
        f"ls(a={imp}) and ls",  # nested call
        f"ls\n{imp}",  # a second line
        "importlib.import_module",  # a module global of BFCL's executor
        "ｌｓ",  # fullwidth: Python's parser folds it to `ls` (NFKC)
    ]
    calls: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in names]
    calls += [
        ("__import__", {"name": IMPORT_MARKER}),  # a dunder builtin, called with a keyword
        ("ｏｐｅｎ", {"file": str(marker_dir / "opened"), "mode": "w"}),  # NFKC-folds to the builtin `open`
        ("open", {"file": str(marker_dir / "opened"), "mode": "w"}),
        ("_load_scenario", {"scenario": {}}),  # a private method of the backend
        ("ls", {f"a=__import__('os').system('touch {marker_dir / 'Y'}'),b": 1}),  # the reported key payload
        ("cd", {f"folder={imp},b": "x"}),
        ("cd", {"ｆｏｌｄｅｒ": "x"}),  # unicode key folding to a real parameter
        ("cd", {"__class__": "x"}),
        ("cd", {f"folder=[{imp} for _ in 'a'],b": "x"}),
        ("cd", {"folder": float("nan")}),
        ("cd", {"folder": f"'), {imp}, ('"}),  # string escapes: values stay literals
        ("cd", {"folder": f"x', folder={imp}, y='"}),  # keyword injection through a value
        ("cd", {"folder": f"\\'); {imp} #"}),
        ("cd", {"folder": f"ls({imp})"}),
        ("cd", {"folder": f"\n{imp}"}),
        ("cd", {"folder": f"f'{{{imp}}}'"}),
        ("cd", {"folder": {"__class__": [imp, {"x": [1.5, None, True]}]}}),
    ]
    return calls
