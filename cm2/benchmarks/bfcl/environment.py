"""BFCL-V4 multi-turn's executable backends as a tool environment (optional extra `cm2[bfcl]`).

The backends (GorillaFileSystem, TwitterAPI, MessageAPI, TicketAPI, TradingBot, TravelAPI, VehicleControlAPI,
MathAPI, …) are plain, stateful Python classes inside the `bfcl-eval` package. An entry names the classes it
involves and their initial state; `BfclEnvironment.from_entry` builds them and dispatches calls to their methods.
"""

from __future__ import annotations

import ast
import copy
import importlib
import inspect
import json
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cm2.schema import Dialogue, FunctionCall, FunctionSpec, StateReport, ToolCall, ToolSpec
from cm2.tools.python_tools import PythonTools, public_methods
from cm2.tools.result import ToolResult, error_result

if TYPE_CHECKING:
    from cm2.benchmarks.bfcl.state import ReferenceStates
    from cm2.tools.environments import DialogueEnvironments, EnvironmentContext

MULTI_TURN_CATEGORIES = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
_INSTALL_HINT = "BFCL support needs the optional extra: pip install 'cm2[bfcl]' (the `bfcl-eval` package)"


def _module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(f"{_INSTALL_HINT}; importing {name} failed: {exc}") from exc


def _backend_config() -> ModuleType:
    return _module("bfcl_eval.constants.executable_backend_config")


def data_dir() -> Path:
    """The `data/` folder shipped inside `bfcl-eval`."""
    return Path(_module("bfcl_eval").__file__ or "").parent / "data"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _category(entry_id: str) -> str:
    return entry_id.rsplit("_", 1)[0]


@cache
def _entries(category: str) -> tuple[dict[str, Any], ...]:
    path = data_dir() / f"BFCL_v4_{category}.json"
    if not path.is_file():
        raise ValueError(f"unknown BFCL category {category!r}: {path} does not exist")
    return tuple(_read_jsonl(path))


def load_entries(category: str = "multi_turn_base") -> list[dict[str, Any]]:
    """Every entry of a BFCL-V4 category (copies: callers may change them)."""
    return copy.deepcopy(list(_entries(category)))


def load_entry(entry_id: str) -> dict[str, Any]:
    """One entry by id, e.g. `multi_turn_base_0`."""
    for entry in _entries(_category(entry_id)):
        if entry["id"] == entry_id:
            return copy.deepcopy(entry)
    raise KeyError(f"no BFCL entry {entry_id!r}")


def load_ground_truth(entry_id: str) -> list[list[str]]:
    """The entry's possible answer: per turn, the expected calls as Python call strings."""
    for answer in _read_jsonl(data_dir() / "possible_answer" / f"BFCL_v4_{_category(entry_id)}.json"):
        if answer["id"] == entry_id:
            return list(answer["ground_truth"])
    raise KeyError(f"no ground truth for BFCL entry {entry_id!r}")


def _convert_types(node: Any, mapping: dict[str, str]) -> Any:
    """BFCL's type names (dict, float, tuple, any, …) turned into JSON-schema ones, recursively."""
    if isinstance(node, list):
        return [_convert_types(v, mapping) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _convert_types(v, mapping) if k in ("items", "additionalProperties") else v for k, v in node.items()}
    if "properties" in node and isinstance(node["properties"], dict):
        out["properties"] = {
            name: _convert_types({"type": "string", **prop} if isinstance(prop, dict) else prop, mapping)
            for name, prop in node["properties"].items()
        }
    kind = node.get("type")
    if isinstance(kind, str):
        out["type"] = mapping.get(kind, "string")
        if kind == "float":
            out.setdefault("format", "float")
    return out


def doc_to_spec(doc: dict[str, Any]) -> ToolSpec:
    """A BFCL function doc as an OpenAI-format tool spec with a valid JSON schema."""
    mapping = dict(_module("bfcl_eval.constants.type_mappings").GORILLA_TO_OPENAPI)
    parameters = _convert_types(doc.get("parameters") or {"type": "dict", "properties": {}}, mapping)
    parameters["type"] = "object"
    extra: dict[str, Any] = {}
    if isinstance(doc.get("response"), dict):
        extra["response"] = _convert_types(doc["response"], mapping)
    function = FunctionSpec(name=doc["name"], description=doc.get("description", ""), parameters=parameters, **extra)
    return ToolSpec(function=function)


def class_docs(class_name: str) -> list[dict[str, Any]]:
    """The function docs of one backend class, from `data/multi_turn_func_doc/`."""
    files = _backend_config().MULTI_TURN_FUNC_DOC_FILE_MAPPING
    if class_name not in files:
        raise ValueError(f"unknown BFCL class {class_name!r}; known: {', '.join(sorted(files))}")
    return _read_jsonl(data_dir() / "multi_turn_func_doc" / files[class_name])


def _instantiate(class_name: str, initial_config: dict[str, Any], long_context: bool) -> Any:
    config = _backend_config()
    if class_name not in config.CLASS_FILE_PATH_MAPPING:
        raise ValueError(f"unknown BFCL class {class_name!r}")
    instance = getattr(_module(config.CLASS_FILE_PATH_MAPPING[class_name]), class_name)()
    if class_name not in config.STATELESS_CLASSES:
        instance._load_scenario(copy.deepcopy(initial_config.get(class_name, {})), long_context=long_context)
    return instance


def failure_message(content: str) -> str | None:
    """The message of a BFCL backend's failure answer `{"error": "..."}` (the backends report a failed call
    that way instead of raising), or None for any other answer."""
    try:
        value = json.loads(content)
    except json.JSONDecodeError:
        return None
    if isinstance(value, dict) and set(value) == {"error"}:
        return str(value["error"])
    return None


def bfcl_entry_id(dialogue: Dialogue) -> str:
    """The BFCL entry a dialogue came from: its `bfcl_id` field, else its uuid."""
    extra = dialogue.model_extra or {}
    return str(extra.get("bfcl_id") or dialogue.uuid)


@lru_cache(maxsize=256)
def _reference_states(entry_id: str) -> ReferenceStates:
    from cm2.benchmarks.bfcl.state import reference_states  # imports this module: load it only when asked

    return reference_states(entry_id)


class BfclEnvironment:
    """The real BFCL backends of one entry, stateful across the episode (one instance per episode).

    A call the backend answers with `{"error": ...}` comes back as cm2's error object (code `tool_failed`,
    BFCL's message kept), so the judge treats it as a failed call. `state_report(turn)` compares the
    backends with the entry's ground-truth state after that turn (BFCL's own state check).
    """

    def __init__(self, entry: dict[str, Any], *, long_context: bool | None = None):
        self.entry_id: str = entry.get("id", "")
        if long_context is None:
            long_context = "long_context" in self.entry_id
        classes: list[str] = list(entry.get("involved_classes", []))
        config: dict[str, Any] = entry.get("initial_config", {}) or {}
        self.instances: dict[str, Any] = {name: _instantiate(name, config, long_context) for name in classes}
        methods: dict[str, Callable[..., Any]] = {}
        for instance in self.instances.values():
            methods.update(public_methods(instance))  # a later class wins a name clash, as in BFCL itself
        excluded = set(entry.get("excluded_function", []))
        specs = [doc_to_spec(d) for name in classes for d in class_docs(name) if d["name"] not in excluded]
        specs = [spec for spec in specs if spec.name in methods]
        self.missed: dict[int, list[str]] = {
            int(turn): list(names) for turn, names in (entry.get("missed_function") or {}).items()
        }
        self._executor = PythonTools(methods, specs, validate_schema=False)

    @classmethod
    def from_entry(cls, entry: dict[str, Any] | str, *, long_context: bool | None = None) -> BfclEnvironment:
        """Build from an entry dict or an entry id such as `multi_turn_base_0`."""
        return cls(load_entry(entry) if isinstance(entry, str) else entry, long_context=long_context)

    @classmethod
    def for_dialogue(cls, dialogue: Dialogue) -> BfclEnvironment:
        """Fresh backends of the entry an imported dialogue came from (the tool environment `tools: bfcl`)."""
        return cls.from_entry(bfcl_entry_id(dialogue))

    @property
    def tools(self) -> list[ToolSpec]:
        """The tools available from the first turn (functions the entry withholds until later turns are left out)."""
        return self.tools_for_turn(0)

    def tools_for_turn(self, turn: int) -> list[ToolSpec]:
        """The tools available at `turn` (0-based): a `missed_function` comes back at its turn."""
        hidden = {name for at, names in self.missed.items() if at > turn for name in names}
        return [spec for spec in self._executor.tools if spec.name not in hidden]

    async def call(self, tool_call: ToolCall) -> ToolResult:
        result = await self._executor.call(tool_call)
        failure = failure_message(result.content) if result.source == "executed" else None
        if failure is not None:
            return error_result("tool_failed", failure, tool_call.name)
        return result

    def state_report(self, turn: int) -> StateReport | None:
        """Whether the backends now equal the ground-truth state after `turn`; None when the entry has no
        ground truth in `bfcl-eval` or no such turn."""
        try:
            states = _reference_states(self.entry_id)
        except KeyError:
            return None
        if not 0 <= turn < len(states):
            return None
        verdict = states.compare(self, turn)
        return StateReport(matched=verdict.matched, reason=verdict.reason)

    def parse_call(self, text: str) -> ToolCall:
        """A BFCL call string such as `sort('report.pdf')` or `cd(folder='doc')` as a ToolCall, without
        evaluating it: arguments must be Python literals; positional ones are named from the method's signature."""
        try:
            node = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as exc:
            raise ValueError(f"not a call: {text!r} ({exc.msg})") from exc
        if not isinstance(node, ast.Call):
            raise ValueError(f"not a call: {text!r}")
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name is None:
            raise ValueError(f"cannot read the function name of {text!r}")
        try:
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
        except ValueError as exc:
            raise ValueError(f"arguments of {text!r} are not Python literals") from exc
        if args:
            method = self._executor.functions.get(name)
            if method is None:
                raise ValueError(f"{text!r} passes positional arguments to an unknown function {name!r}")
            kwargs = dict(inspect.signature(method).bind(*args, **kwargs).arguments)
        return ToolCall(function=FunctionCall(name=name, arguments=json.dumps(kwargs, ensure_ascii=False)))


def bfcl_environments(context: EnvironmentContext) -> DialogueEnvironments:
    """The tool environment `bfcl` (registered in pyproject.toml's `cm2.environments` entry points): BFCL's
    real backends, fresh per episode, for the entry each dialogue came from (no simulator is used)."""
    return BfclEnvironment.for_dialogue
