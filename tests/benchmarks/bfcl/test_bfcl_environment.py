"""The BFCL adapter against the real `bfcl-eval` package (skipped when it is not installed)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jsonschema
import pytest

pytest.importorskip("bfcl_eval")

from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import state_checker
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import execute_multi_turn_func_call

from cm2.benchmarks.bfcl.environment import BfclEnvironment, class_docs, doc_to_spec, load_entry, load_ground_truth
from cm2.schema import FunctionCall, ToolCall
from cm2.tools import ToolResult, is_tool_error

ENTRY = "multi_turn_base_0"


def run(env: BfclEnvironment, call: ToolCall) -> ToolResult:
    return asyncio.run(env.call(call))


def reference_run(entry: dict[str, Any], turns: list[list[str]], tag: str) -> tuple[list[str], dict[str, Any]]:
    """BFCL's own executor on the same calls (its instances live in a module global keyed by `tag`)."""
    outputs: list[str] = []
    instances: dict[str, Any] = {}
    for turn in turns:
        results, instances = execute_multi_turn_func_call(
            turn, entry["initial_config"], entry["involved_classes"], tag, entry["id"]
        )
        outputs.extend(results)
    return outputs, instances


def test_ground_truth_runs_like_bfcl_and_reaches_its_state() -> None:
    entry = load_entry(ENTRY)
    turns = load_ground_truth(ENTRY)
    env = BfclEnvironment.from_entry(entry)
    ours = [run(env, env.parse_call(text)) for turn in turns for text in turn]
    assert all(result.source == "executed" for result in ours)
    theirs, their_instances = reference_run(entry, turns, "cm2_full")
    for mine, reference in zip(ours, theirs, strict=True):
        expected = json.loads(reference) if reference.startswith("{") else None
        assert json.loads(mine.content) == expected
    assert state_checker(env.instances, their_instances) == {"valid": True}
    # The state changed for real: both reports sit in document/temp now, and the episode ended inside it.
    fs = env.instances["GorillaFileSystem"]
    assert fs._current_dir.name == "temp" and fs._current_dir.parent.name == "document"
    assert sorted(fs._current_dir.contents) == ["final_report.pdf", "previous_report.pdf"]
    assert "final_report.pdf" not in fs._current_dir.parent.contents


def test_state_is_per_episode_and_stops_matching_when_a_turn_is_skipped() -> None:
    entry = load_entry(ENTRY)
    turns = load_ground_truth(ENTRY)
    partial = BfclEnvironment.from_entry(ENTRY)
    for text in [t for turn in turns[:-1] for t in turn]:
        run(partial, partial.parse_call(text))
    fresh = BfclEnvironment.from_entry(ENTRY)
    assert fresh.instances["GorillaFileSystem"]._current_dir.name == "workspace"
    _, their_instances = reference_run(entry, turns, "cm2_skip")
    assert state_checker(partial.instances, their_instances)["valid"] is False


def test_tools_follow_the_entry() -> None:
    env = BfclEnvironment.from_entry(ENTRY)
    names = {spec.name for spec in env.tools}
    assert {"cd", "mv", "grep", "post_tweet"} <= names and "cp" not in names  # cp is an excluded function
    miss = BfclEnvironment.from_entry("multi_turn_miss_func_0")
    assert "sort" not in {s.name for s in miss.tools_for_turn(2)}
    assert "sort" in {s.name for s in miss.tools_for_turn(3)}


def test_every_function_doc_converts_to_a_valid_json_schema() -> None:
    classes = ["GorillaFileSystem", "MathAPI", "MessageAPI", "TwitterAPI", "TicketAPI", "TradingBot", "TravelAPI"]
    for class_name in [*classes, "VehicleControlAPI"]:
        for doc in class_docs(class_name):
            spec = doc_to_spec(doc).function
            jsonschema.Draft202012Validator.check_schema(spec.parameters)
            assert spec.parameters["type"] == "object" and "dict" not in json.dumps(spec.parameters)


def test_bad_calls_and_backend_failures_are_error_objects() -> None:
    env = BfclEnvironment.from_entry(ENTRY)
    unknown = run(env, ToolCall(function=FunctionCall(name="format_disk", arguments={})))
    assert unknown.error_code == "unknown_tool"
    missing = run(env, ToolCall(function=FunctionCall(name="cd", arguments={})))
    assert missing.error_code == "invalid_arguments" and is_tool_error(missing.content)
    # A backend that reports a failure in its own words ({"error": ...}) is a failed call too, so it cannot
    # satisfy a checklist item (it used to pass as a normal answer); BFCL's message is kept.
    nowhere = run(env, env.parse_call("cd(folder='nowhere')"))
    assert nowhere.source == "error" and nowhere.error_code == "tool_failed" and is_tool_error(nowhere.content)
    body = json.loads(nowhere.content)["error_tool_call"]
    assert body["tool"] == "cd" and "nowhere" in body["message"]
    assert run(env, env.parse_call("ls()")).source == "executed"


@pytest.mark.parametrize("text", ["cd(folder=__import__('os').getcwd())", "cd", "1 + 1", "cd(folder='a'"])
def test_call_strings_are_parsed_never_evaluated(text: str) -> None:
    with pytest.raises(ValueError):
        BfclEnvironment.from_entry(ENTRY).parse_call(text)


def test_positional_arguments_are_named_from_the_signature() -> None:
    call = BfclEnvironment.from_entry(ENTRY).parse_call("sort('final_report.pdf')")
    assert call.name == "sort" and json.loads(str(call.function.arguments)) == {"file_name": "final_report.pdf"}
