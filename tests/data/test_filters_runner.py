"""The runner, the report and the config: overlaps, switching rules, malformed inputs, the released sample."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cm2.data.filters import RULE_NAMES, FilterConfig, FilterReport, check_record, run_filters
from cm2.data.io import iter_records
from cm2.data.raw import RawRecord
from cm2.data.synthetic import synthetic_dialogue


def _report(records: list[Any], config: FilterConfig | None = None) -> FilterReport:
    config = config or FilterConfig()
    report = FilterReport.start(config)
    for result in run_filters(records, config):
        report.add(result)
    return report


def test_released_sample_passes_every_rule(sample_records: list[dict[str, Any]]) -> None:
    [record] = sample_records
    tool_messages = [m for m in record["messages"] if m["role"] == "tool"]
    # What makes the sample a good test: positional answers and a JSON error as the first result.
    assert all("tool_call_id" not in m for m in tool_messages)
    assert "error" in json.loads(tool_messages[0]["content"])
    assert check_record(record) == []


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda r: r["messages"].pop(2), "tool_call_response_mismatch"),
        (lambda r: r["messages"][2].update(content="Expected integer, got string"), "tool_response_not_json"),
        (lambda r: r["tools"][0]["function"]["parameters"]["required"].append("season"), "tool_schema"),
        (lambda r: r["messages"][1]["tool_calls"][0]["function"].update(arguments='{"teamid": 5}'), "tool_schema"),
        (lambda r: r["messages"][3].update(content=r["messages"][3]["content"].replace("<think>", "")), "think_tags"),
        (lambda r: r["messages"][2].update(tool_call_id="call_other"), "tool_call_response_mismatch"),
    ],
)
def test_released_sample_with_one_defect_fails(sample_records: list[dict[str, Any]], change: Any, rule: str) -> None:
    record = copy.deepcopy(sample_records[0])
    change(record)
    assert rule in {v.rule for v in check_record(record)}


def test_nemotron_records_pass(nemotron_records: list[dict[str, Any]]) -> None:
    for record in nemotron_records:
        assert check_record(record) == [], record["uuid"]
    assert check_record(synthetic_dialogue(3, spec=_spec(fmt="nemotron"))) == []


def _spec(**fields: Any) -> Any:
    from cm2.data.synthetic import SyntheticSpec

    return SyntheticSpec(**fields)


def test_overlapping_rules_count_in_each(sample_records: list[dict[str, Any]]) -> None:
    both = copy.deepcopy(sample_records[0])
    both["messages"][2]["content"] = "not json"  # tool_response_not_json
    both["tools"].append(copy.deepcopy(both["tools"][0]))  # duplicate_tools
    report = _report([sample_records[0], both, synthetic_dialogue(0)])
    assert (report.total, report.kept, report.rejected, report.malformed) == (3, 2, 1, 0)
    assert report.rules["tool_response_not_json"].rejected == 1
    assert report.rules["duplicate_tools"].rejected == 1
    assert sum(stats.rejected for stats in report.rules.values()) == 2
    [example] = report.rules["duplicate_tools"].examples
    assert example.id == both["uuid"] and example.location == "record 1"
    assert example.reasons == ["tool 1 repeats the name 'get_the_last_games_of_a_football_team' of tool 0"]


def test_config_switches_rules_off(sample_records: list[dict[str, Any]]) -> None:
    record = copy.deepcopy(sample_records[0])
    record["messages"][2]["content"] = "not json"
    assert _report([record]).rejected == 1
    config = FilterConfig().without(["tool_response_not_json"])
    report = _report([record], config)
    assert report.kept == 1 and "tool_response_not_json" not in report.rules
    only = FilterConfig(rules=["think_tags"])
    assert list(_report([record], only).rules) == ["think_tags"]


def test_config_rejects_unknown_rules_and_fields(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown rule"):
        FilterConfig(rules=["think_tags", "no_such_rule"])
    with pytest.raises(ValueError, match="unknown rule"):
        FilterConfig().without(["nope"])
    with pytest.raises(ValidationError):
        FilterConfig.model_validate({"require_thinking": False})
    assert FilterConfig(rules=["role_order", "role_order"]).rules == ["role_order"]


def test_config_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "filter.yaml"
    path.write_text("rules: [role_order, think_tags]\nrequire_think: false\nmax_examples: 2\n", encoding="utf-8")
    config = FilterConfig.from_yaml(path)
    assert (config.rules, config.require_think, config.max_examples) == (["role_order", "think_tags"], False, 2)
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert FilterConfig.from_yaml(empty) == FilterConfig()
    assert FilterConfig().rules == list(RULE_NAMES)


def test_malformed_inputs_are_reported_with_their_location(
    tmp_path: Path, sample_records: list[dict[str, Any]]
) -> None:
    path = tmp_path / "in.jsonl"
    lines = [json.dumps(sample_records[0]), "{broken", "", "[1, 2]", json.dumps(synthetic_dialogue(1))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = list(run_filters(iter_records(path)))
    assert [r.malformed for r in results] == [False, True, True, False]
    assert results[1].location == f"{path}:2" and results[1].violations[0].rule == "malformed"
    report = _report(list(iter_records(path)))
    assert (report.total, report.kept, report.malformed) == (4, 2, 2)
    assert [m.location for m in report.malformed_inputs] == [f"{path}:2", f"{path}:4"]
    assert "invalid JSON" in report.malformed_inputs[0].error


def test_examples_and_reasons_are_capped() -> None:
    bad = synthetic_dialogue(0, defect="missing_think")
    for message in bad["messages"]:
        if message["role"] == "assistant":
            message["content"] = "x"  # every assistant message now misses its think block
    config = FilterConfig(rules=["think_tags"], max_examples=2, max_reasons=1, max_malformed=1)
    records = [RawRecord(f"f:{n}", copy.deepcopy(bad)) for n in range(5)] + [
        RawRecord(f"f:{n}", None, "bad") for n in (6, 7)
    ]
    report = _report(records, config)
    stats = report.rules["think_tags"]
    assert stats.rejected == 5 and len(stats.examples) == 2
    assert stats.examples[0].reasons[0].endswith("no <think> block")
    assert stats.examples[0].reasons[1].startswith("… and ")
    assert report.malformed == 2 and len(report.malformed_inputs) == 1


def test_report_round_trips_through_json(tmp_path: Path) -> None:
    records = [synthetic_dialogue(n, defect=d) for n, d in enumerate([None, "empty_think", "call_unknown_tool"])]
    report = _report(records)
    path = tmp_path / "out" / "report.json"
    report.write(path)
    assert FilterReport.model_validate_json(path.read_text(encoding="utf-8")) == report
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temp file left behind


# Arbitrary JSON, and records that look like dialogues but are filled with it: no rule may crash.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_role = st.sampled_from(["system", "user", "assistant", "tool", "function", ""]) | _json
_call = st.fixed_dictionaries(
    {},
    optional={
        "id": _json,
        "type": _json,
        "function": st.fixed_dictionaries({}, optional={"name": _json, "arguments": _json}) | _json,
    },
)
_message = st.fixed_dictionaries(
    {"role": _role},
    optional={
        "content": _json | st.sampled_from(["<think>", "</think>", "<think>a</think>b", "<tool_response>"]),
        "tool_calls": st.lists(_call | _json, max_size=3) | _json,
        "tool_call_id": _json,
        "reasoning_content": _json,
    },
)
_tool = st.fixed_dictionaries(
    {},
    optional={
        "type": _json,
        "function": st.fixed_dictionaries({}, optional={"name": _json, "parameters": _json}) | _json,
    },
)
_record = st.fixed_dictionaries(
    {},
    optional={
        "uuid": _json,
        "messages": st.lists(_message | _json, max_size=6) | _json,
        "tools": st.lists(_tool | _json, max_size=3) | _json,
        "metadata": _json | st.text(),
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_record | _json)
def test_no_rule_crashes_on_arbitrary_records(record: Any) -> None:
    for violation in check_record(record):
        assert "rule crashed" not in violation.reason, violation


_keyword = st.sampled_from(["type", "properties", "required", "items", "enum", "pattern", "$ref", "$defs", "anyOf"])
_schema = st.dictionaries(
    _keyword, _json | st.sampled_from(["object", "#/$defs/x", "http://example.com/s", "(["]), max_size=4
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_schema, _json)
def test_no_rule_crashes_on_odd_schemas_and_arguments(schema: dict[str, Any], arguments: Any) -> None:
    record = synthetic_dialogue(0)
    function = record["tools"][0]["function"]
    function["parameters"] = {"type": "object", **schema}
    for message in record["messages"]:
        for call in message.get("tool_calls") or []:
            call["function"].update(name=function["name"], arguments=arguments)
    for violation in check_record(record):
        assert "rule crashed" not in violation.reason, violation


def test_remote_refs_are_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the filters must not fetch remote schemas")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    record = synthetic_dialogue(0)
    function = record["tools"][0]["function"]
    function["parameters"] = {"type": "object", "properties": {"q": {"$ref": "https://example.com/remote.json"}}}
    for message in record["messages"]:
        for call in message.get("tool_calls") or []:
            call["function"].update(name=function["name"], arguments='{"q": 1}')
    reasons = [v.reason for v in check_record(record, FilterConfig(rules=["tool_schema"]))]
    assert reasons and all("cannot be checked" in r and "Unresolvable" in r for r in reasons)
