"""Model-written BFCL calls, checked and rebuilt before any of `bfcl_eval`'s executors sees them.

`bfcl_eval` turns a call into a Python string (`name(key=repr(value), …)`) and `eval`s it, both when the
inference loop executes a step and when `multi_turn_checker` replays a rollout. Model text must never
reach that string. So every call is checked here: the name must be a public method of the entry's
backends that the entry documents, every key one of that function's documented parameters,
every value a JSON literal (finite numbers, bounded depth). The call string is then rebuilt from those
parts alone, with `repr` of the values, and parsed back to confirm it is exactly that one call with literal
arguments. A call that fails is never handed over: its step result is an error message and the checker
sees `REJECTED_CALL`, a bare name no backend defines, which fails as an unknown function does in BFCL.

Steps that do not decode as BFCL decodes them (text, arguments that are not a JSON object) raise
`ValueError`, as `convert_to_function_call` does; the callers treat them as BFCL does (the turn ends).
"""

from __future__ import annotations

import ast
import inspect
import json
import keyword
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from cm2.benchmarks.bfcl.environment import class_docs

REJECTED_CALL = "cm2_rejected_call()"
"""What the checker replays for a rejected call: a name lookup that fails, nothing else."""
MAX_VALUE_DEPTH = 32


class CallRejected(ValueError):
    """A model-written call that may not be executed; the message says why (shown to the model)."""


@dataclass(frozen=True)
class CheckedCall:
    """One call of a step: `text` is safe to hand to BFCL's executor; `error` is set when it was rejected."""

    text: str
    error: str | None = None

    @property
    def rejected(self) -> bool:
        return self.error is not None


def _show(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _literal(value: Any, depth: int = 0) -> None:
    if depth > MAX_VALUE_DEPTH:
        raise CallRejected(f"argument values nest deeper than {MAX_VALUE_DEPTH} levels")
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CallRejected(f"argument value {value!r} is not a finite number")
        return
    if isinstance(value, list):
        for item in value:
            _literal(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CallRejected("object keys in argument values must be strings")
            _literal(item, depth + 1)
        return
    raise CallRejected(f"argument value of type {type(value).__name__} is not a JSON literal")


def _backend_methods(classes: tuple[str, ...]) -> frozenset[str]:
    import importlib

    from cm2.benchmarks.bfcl.loop import bfcl_module

    paths = bfcl_module("bfcl_eval.constants.executable_backend_config").CLASS_FILE_PATH_MAPPING
    names: set[str] = set()
    for class_name in classes:
        if class_name not in paths:
            raise ValueError(f"unknown BFCL class {class_name!r}")
        cls = getattr(importlib.import_module(paths[class_name]), class_name)
        # plain methods only: those are what BFCL's executor binds to the instance (`inst.name(...)`)
        names |= {n for n in dir(cls) if not n.startswith("_") and inspect.isfunction(inspect.getattr_static(cls, n))}
    return frozenset(names)


_cached_methods = cache(_backend_methods)


def _parameters(doc: dict[str, Any]) -> frozenset[str]:
    properties = (doc.get("parameters") or {}).get("properties") or {}
    return frozenset(str(name) for name in properties)


def offered_functions(entry: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Function name → documented parameter names, for every function the entry documents.

    Takes an entry as `bfcl_eval` loads it (`function` holds the docs, `missed_function` the held-out docs
    per turn) or as stored in its data file (`involved_classes`; `excluded_function` and `missed_function`
    hold names; excluded functions are left out, as cm2's `BfclEnvironment` never offers them). Held-out
    functions count at every turn: BFCL's executor runs them whenever they are called, and a ground-truth
    call may use one before its turn (multi_turn_miss_func_49 calls `tail` at turn 1, held out until 3).
    """
    classes = tuple(entry.get("involved_classes") or ())
    methods = _cached_methods(classes)
    missed: dict[str, list[Any]] = entry.get("missed_function") or {}
    if "function" in entry:
        docs = [*entry["function"], *(d for held in missed.values() for d in held if isinstance(d, dict))]
    else:
        excluded = set(entry.get("excluded_function") or ())
        docs = [d for name in classes for d in class_docs(name) if d["name"] not in excluded]
    return {d["name"]: _parameters(d) for d in docs if d.get("name") in methods}


def build_call(name: str, arguments: dict[str, Any], offered: dict[str, frozenset[str]]) -> str:
    """The call string for BFCL's executor, rebuilt from checked parts; raises `CallRejected`."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise CallRejected(f"{_show(name)} is not a function name")
    if name not in offered:
        raise CallRejected(f"no function {_show(name)} is offered here")
    allowed = offered[name]
    for key, value in arguments.items():
        if not isinstance(key, str) or key not in allowed:
            raise CallRejected(f"{name} has no parameter {_show(key)}")
        _literal(value)
    return _rebuild(name, arguments)


def _rebuild(name: str, arguments: dict[str, Any]) -> str:
    """`name(key=repr(value), …)`, parsed back to confirm it is exactly this call with literal arguments."""
    try:
        text = f"{name}({','.join(f'{key}={value!r}' for key, value in arguments.items())})"
        node = ast.parse(text, mode="eval").body
        ok = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == name
            and not node.args
            and [k.arg for k in node.keywords] == list(arguments)
            and all(ast.literal_eval(k.value) == arguments[k.arg] for k in node.keywords if k.arg is not None)
        )
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise CallRejected(f"the call to {name} cannot be written as a literal call ({type(exc).__name__})") from exc
    if not ok:
        raise CallRejected(f"the call to {name} cannot be written as a literal call")
    return text


def check_step(response: list[dict[str, Any]] | str, offered: dict[str, frozenset[str]]) -> list[CheckedCall]:
    """Every call of one step (BFCL's `[{name: arguments_json}, …]`), checked and rebuilt in order.

    Raises `ValueError` when the step does not decode as BFCL decodes it (the turn ends there)."""
    if isinstance(response, str):
        if response:
            raise ValueError("a text answer, not calls")
        return []
    checked: list[CheckedCall] = []
    for item in response if isinstance(response, list) else [response]:
        if not isinstance(item, dict):
            raise ValueError("a step's calls are objects {name: arguments}")
        for name, raw in item.items():
            try:
                arguments = json.loads(raw) if isinstance(raw, str) else raw
            except RecursionError as exc:
                raise ValueError("the arguments nest too deeply to decode") from exc
            if not isinstance(arguments, dict):
                raise ValueError(f"the arguments of {_show(name)} are not a JSON object")
            try:
                checked.append(CheckedCall(build_call(name, arguments, offered)))
            except CallRejected as exc:
                checked.append(CheckedCall(REJECTED_CALL, error=str(exc)))
    return checked


def decode_turns(entry: dict[str, Any], turns: list[list[list[dict[str, Any]] | str]]) -> list[list[list[str]]]:
    """A rollout's steps as the call strings `multi_turn_checker` replays: steps that do not decode and empty
    steps are left out (as `bfcl evaluate` does), rejected calls become `REJECTED_CALL`."""
    offered = offered_functions(entry)
    decoded: list[list[list[str]]] = []
    for responses in turns:
        steps = []
        for response in responses:
            try:
                calls = check_step(response, offered)
            except ValueError:  # BFCL ignores steps that do not decode (chat, malformed calls)
                continue
            if calls:
                steps.append([call.text for call in calls])
        decoded.append(steps)
    return decoded
