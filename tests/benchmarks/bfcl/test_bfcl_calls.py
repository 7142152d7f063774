"""Nothing a model writes is executed by BFCL's `eval`-based executor or checker: every call is checked and
rebuilt first. The hostile calls are live (the unchecked BFCL path runs them); every cm2 entry point that
hands calls to BFCL refuses them, over the real `bfcl_eval` code paths."""

from __future__ import annotations

import ast
import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cm2.benchmarks.bfcl.calls import REJECTED_CALL, check_step, offered_functions
from cm2.benchmarks.bfcl.evaluate import BfclConfig, evaluate_bfcl, score_entry, select_entries
from cm2.benchmarks.bfcl.loop import BfclRuntime, EntryRun
from cm2.benchmarks.bfcl.testing import IMPORT_MARKER, hostile_calls
from cm2.llm.testing import FakeOpenAIServer, completion_body
from cm2.rollout.endpoint_policy import EndpointPolicy
from cm2.schema import FunctionCall, Message, ToolCall, Trajectory

pytest.importorskip("bfcl_eval")

ENTRY = "multi_turn_base_0"


@pytest.fixture
def markers(tmp_path: Path) -> Iterator[Path]:
    """A folder hostile calls write into when they run; on exit: still empty, and nothing was imported."""
    sys.modules.pop(IMPORT_MARKER, None)
    folder = tmp_path / "markers"
    folder.mkdir()
    yield folder
    assert sorted(p.name for p in folder.iterdir()) == []
    assert IMPORT_MARKER not in sys.modules


def _step(calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, str]]:
    return [{name: json.dumps(arguments)} for name, arguments in calls]


def _entry() -> dict[str, Any]:
    ((entry, _),) = select_entries(BfclConfig(ids=[ENTRY]))
    return entry


def test_unchecked_bfcl_runs_the_payloads(tmp_path: Path) -> None:
    """The control: fed straight to bfcl_eval (as cm2 did before), the payloads create files and import."""
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import execute_multi_turn_func_call
    from bfcl_eval.model_handler.utils import convert_to_function_call

    sys.modules.pop(IMPORT_MARKER, None)
    calls = hostile_calls(tmp_path)
    strings = convert_to_function_call(_step([calls[0], calls[10], calls[14]]))
    entry = _entry()
    execute_multi_turn_func_call(strings, entry["initial_config"], entry["involved_classes"], "control", ENTRY)
    assert {"X", "Y"} <= {p.name for p in tmp_path.iterdir()} and IMPORT_MARKER in sys.modules
    sys.modules.pop(IMPORT_MARKER, None)


def test_every_hostile_call_is_rejected_or_rebuilt_as_a_literal_call(markers: Path) -> None:
    offered = offered_functions(_entry())
    checked = check_step(_step(hostile_calls(markers)), offered)
    assert len(checked) == len(hostile_calls(markers))
    for call in checked:
        node = ast.parse(call.text, mode="eval").body
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args
        assert all(ast.literal_eval(k.value) is not None for k in node.keywords)
        assert call.rejected == (call.text == REJECTED_CALL)
        assert call.rejected or node.func.id in offered
    accepted = [c.text for c in checked if not c.rejected]
    assert len(accepted) == 7 and all(text.startswith("cd(folder=") for text in accepted)


def test_offered_functions_are_the_entrys_documented_methods() -> None:
    ((entry, _),) = select_entries(BfclConfig(ids=["multi_turn_miss_func_0"]))
    offered = offered_functions(entry)
    assert "sort" in offered and offered["mv"] == frozenset({"source", "destination"})  # held out until turn 3
    assert "_load_scenario" not in offered and "cp" in offered  # bfcl_eval offers excluded functions
    raw = offered_functions(_raw("multi_turn_miss_func_0"))
    assert "cp" not in raw and raw["sort"] == offered["sort"]  # cm2's BfclEnvironment never offers them
    (call,) = check_step([{"sort": '{"file_name": "a"}'}], offered)
    assert call.text == "sort(file_name='a')"


@pytest.mark.slow
def test_every_ground_truth_call_passes_the_check() -> None:
    """A perfect model is never rejected: every ground-truth call of the four categories (4625) passes."""
    from bfcl_eval.utils import load_dataset_entry, load_ground_truth_entry

    from cm2.benchmarks.bfcl.environment import MULTI_TURN_CATEGORIES, BfclEnvironment

    count = 0
    for category in MULTI_TURN_CATEGORIES:
        answers = {a["id"]: a["ground_truth"] for a in load_ground_truth_entry(category)}
        for entry in load_dataset_entry(category):
            offered, env = offered_functions(entry), BfclEnvironment.from_entry(entry["id"])
            for text in (call for turn in answers[entry["id"]] for call in turn):
                parsed = env.parse_call(text)
                (checked,) = check_step([{parsed.name: str(parsed.function.arguments)}], offered)
                assert not checked.rejected, (entry["id"], text, checked.error)
                count += 1
    assert count == 4625


def _raw(entry_id: str) -> dict[str, Any]:
    from cm2.benchmarks.bfcl.environment import load_entry

    return load_entry(entry_id)


def test_steps_that_do_not_decode_end_the_turn_as_in_bfcl() -> None:
    offered = offered_functions(_entry())
    for response in ("some text", [{"ls": "{'a': __import__('os')}"}], [{"ls": "[1]"}], ["ls"]):
        with pytest.raises(ValueError):
            check_step(response, offered)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        check_step([{"ls": "[" * 100_000 + "]" * 100_000}], offered)
    assert check_step("", offered) == []


def _respond_hostile(calls: list[tuple[str, dict[str, Any]]]) -> Any:
    tool_calls = [
        {"id": f"h{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
        for i, (name, arguments) in enumerate(calls)
    ]
    return lambda body: completion_body(None, tool_calls=tool_calls) if body["messages"][-1]["role"] == "user" else "ok"


def test_sweep_every_entry_point(markers: Path, tmp_path: Path) -> None:
    """`cm2 eval bfcl` over HTTP, the checker through `score_entry`, the demo's `score_calls`, the runtime and
    cm2's own BFCL environment: nothing runs, nothing is imported, every hostile call fails as the model's."""
    from cm2.benchmarks.bfcl.environment import BfclEnvironment, load_ground_truth
    from cm2.benchmarks.bfcl.metrics import score_calls

    calls = hostile_calls(markers)
    # 1. The inference loop and the checker of `cm2 eval bfcl`, against a hostile endpoint.
    with FakeOpenAIServer(_respond_hostile(calls)) as server:
        policy = EndpointPolicy.connect(server.base_url, "m", send_max_tokens=False, max_retries=0)
        result = asyncio.run(evaluate_bfcl(policy, BfclConfig(ids=[ENTRY]), model="m", out_dir=tmp_path / "out"))
    (record,) = [json.loads(line) for line in (tmp_path / "out" / "bfcl_entries.jsonl").read_text().splitlines()]
    assert result.overall == 0.0 and not record["valid"] and record["turns"] == len(_entry()["question"])
    replies = [m["content"] for m in record["messages"] if m["role"] == "tool"][: len(calls)]  # the first step
    assert all(reply.startswith("Error during execution: ") for reply in replies[:20])  # rejected, not run
    assert sum("is not a function name" in r or "is offered here" in r for r in replies) == 14
    assert all("No such file or directory" in reply for reply in replies[20:26])  # values stay strings

    # 2. BFCL's checker on a hand-made result, in every turn.
    entry, ground_truth = _entry(), load_ground_truth(ENTRY)
    run = EntryRun(responses=[[_step(calls)] for _ in ground_truth])
    valid, error_type, _ = score_entry(entry, ground_truth, run, "sweep")
    assert not valid and error_type is not None and error_type != "multi_turn:checker_error"

    # 3. The demo's BFCL verdict on a rollout holding the hostile calls.
    tool_calls = [ToolCall(function=FunctionCall(name=n, arguments=json.dumps(a))) for n, a in calls]
    messages = [Message(role="user", content="go"), Message(role="assistant", content="", tool_calls=tool_calls)]
    score = score_calls(_demo_reference(), Trajectory(dialogue_uuid=ENTRY, messages=messages), ENTRY, max_turns=1)
    assert not score.bfcl_valid

    # 4. The runtime takes checked calls only.
    runtime = BfclRuntime(entry)
    with pytest.raises(TypeError):
        runtime.execute([f"{calls[0][0]}()"])  # type: ignore[list-item]
    runtime.close()

    # 5. cm2's own BFCL tools (training rollouts, the demo): dispatch by name, never eval.
    env = BfclEnvironment.from_entry(ENTRY)
    results = [asyncio.run(env.call(call)) for call in tool_calls]
    assert all(r.source == "error" for r in results[:20])  # unknown names and parameters; values stay data


def _demo_reference() -> Any:
    from cm2.schema import Dialogue

    return Dialogue(uuid=ENTRY, messages=[Message(role="user", content="go"), Message(role="assistant", content="ok")])


def test_string_values_stay_literals_after_bfcls_own_rewriting() -> None:
    """BFCL prefixes every `name(` in the call string with the instance name, inside string values too;
    whatever a value holds, the string it finally `eval`s is still one method call with literal arguments."""
    import random

    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import _process_method_calls

    offered = offered_functions(_entry())
    mapping = dict.fromkeys(offered, "cm2run_x_multi_turn_base_0_GorillaFileSystem_instance")
    pieces = ["'", '"', "\\", "\\n", "\\x41", "\\u00e9", "(", ")", "ls(", "cd (", "n", "x", "u", " ", ",", "=", "é"]
    pieces += ["__import__(", "'''", "#", "{", "}", "\n", "\x00", "𝕩", "ｌｓ("]
    rng = random.Random(7)
    for _ in range(3000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        (checked,) = check_step([{"cd": json.dumps({"folder": value})}], offered)
        final = _process_method_calls(checked.text, mapping)
        node = ast.parse(final, mode="eval").body
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cd"
        assert isinstance(node.func.value, ast.Name) and not node.args and len(node.keywords) == 1
        assert isinstance(ast.literal_eval(node.keywords[0].value), str), final


def test_only_checked_code_reaches_bfcls_executor() -> None:
    """Every use of bfcl_eval's eval-based functions in cm2's code sits behind the check: a new caller fails."""
    import cm2

    package = Path(cm2.__file__).parent
    risky = {"execute_multi_turn_func_call", "multi_turn_checker", "convert_to_function_call", "_process_method_calls"}
    users: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
            name = name or (node.name if isinstance(node, ast.alias) else None)
            if name and name.rsplit(".", 1)[-1] in risky:
                users.setdefault(str(path.relative_to(package)), set()).add(name.rsplit(".", 1)[-1])
    assert users == {
        "benchmarks/bfcl/loop.py": {"execute_multi_turn_func_call"},  # BfclRuntime.execute: CheckedCall only
        "benchmarks/bfcl/evaluate.py": {"multi_turn_checker"},  # score_entry: decode_turns output only
    }
