"""The `label --from-reference-calls`, `filter-llm` and `compress-cot` commands on real files, the LLM
ones against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cm2.cli import app
from cm2.llm.testing import FakeOpenAIServer
from cm2.schema import Dialogue, split_think
from cm2.testing.annotation import order_dialogue

SAMPLE = Path(str(resources.files("cm2.data").joinpath("samples/cm2_reference_sample.json")))
LLM = ["--set", "llm.model=fake-model", "--set", "llm.api_key_env=null", "--no-progress"]


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_reference_labeling_of_the_bundled_sample_is_lossless(tmp_path: Path) -> None:
    out = tmp_path / "labeled.jsonl"
    result = CliRunner().invoke(app, ["label", "--from-reference-calls", str(SAMPLE), str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    (record,) = _records(out)
    (raw,) = json.loads(SAMPLE.read_text())
    assert {k: v for k, v in record.items() if k != "checklists"} == {k: v for k, v in raw.items() if k != "checklists"}
    assert [len(turn) for turn in record["checklists"][0]] == [2, 1, 1]
    assert not (tmp_path / "labeled.failures.jsonl").read_text()


def test_bad_invocations_fail_with_a_clear_message(tmp_path: Path) -> None:
    runner = CliRunner()
    wrong_out = runner.invoke(app, ["label", "--from-reference-calls", str(SAMPLE), str(tmp_path / "o.json")])
    assert wrong_out.exit_code == 2 and "append-only JSON Lines" in wrong_out.output
    no_model = runner.invoke(app, ["label", str(SAMPLE), str(tmp_path / "o.jsonl")])
    assert no_model.exit_code == 2 and "no annotating model" in no_model.output
    bad_k = tmp_path / "k.yaml"
    bad_k.write_text("label: {min_checklists: 3}\n")
    too_few = runner.invoke(app, ["label", str(SAMPLE), str(tmp_path / "o.jsonl"), "--config", str(bad_k), *LLM])
    assert too_few.exit_code == 2 and "min_checklists" in too_few.output
    huge = ["--set", "filter.stages=[low, huge]"]
    stages = runner.invoke(app, ["filter-llm", str(SAMPLE), str(tmp_path / "o.jsonl"), *huge, *LLM])
    assert stages.exit_code == 2 and "filter.stages" in stages.output


def _dataset(path: Path, n: int) -> list[Dialogue]:
    dialogues = [order_dialogue(i) for i in range(n)]
    path.write_text("".join(json.dumps(d.dump()) + "\n" for d in dialogues), encoding="utf-8")
    return dialogues


def test_filter_llm_over_http(tmp_path: Path) -> None:
    _dataset(tmp_path / "in.jsonl", 4)

    def review(body: dict[str, Any]) -> str:
        text = body["messages"][1]["content"]
        if "order #2?" in text and body.get("reasoning_effort") == "high":
            return json.dumps({"keep": False, "reasons": ["turn 1, step 3: cancels without confirming"]})
        return json.dumps({"keep": True, "reasons": []})

    with FakeOpenAIServer(review) as server:
        args = [
            "filter-llm",
            str(tmp_path / "in.jsonl"),
            str(tmp_path / "kept.jsonl"),
            "--set",
            "filter.stages=[low,high]",
        ]
        result = CliRunner().invoke(app, [*args, "--set", f"llm.base_url={server.base_url}", *LLM])
    assert result.exit_code == 0, result.output
    assert sorted(body["reasoning_effort"] for body in server.requests) == ["high"] * 4 + ["low"] * 4
    assert [r["uuid"] for r in _records(tmp_path / "kept.jsonl")].count("syn-0002") == 0
    assert len(_records(tmp_path / "kept.jsonl")) == 3
    (rejected,) = _records(tmp_path / "kept.rejected.jsonl")
    assert rejected["uuid"] == "syn-0002" and rejected["stage"] == 1 and rejected["effort"] == "high"


def test_compress_cot_over_http(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in json.loads(SAMPLE.read_text())))

    def shorten(body: dict[str, Any]) -> str:
        text = body["messages"][1]["content"]
        shown = json.loads(text[text.index("Passages:\n") + len("Passages:\n") :])
        return json.dumps({"passages": [{"index": p["index"], "thinking": p["thinking"][:80]} for p in shown]})

    summary = tmp_path / "summary.json"
    with FakeOpenAIServer(shorten) as server:
        args = ["compress-cot", str(source), str(tmp_path / "out.jsonl"), "--summary", str(summary)]
        result = CliRunner().invoke(app, [*args, "--set", f"llm.base_url={server.base_url}", *LLM])
    assert result.exit_code == 0, result.output
    (record,) = _records(tmp_path / "out.jsonl")
    (raw,) = json.loads(SAMPLE.read_text())
    for old, new in zip(raw["messages"], record["messages"], strict=True):
        assert {k: v for k, v in old.items() if k != "content"} == {k: v for k, v in new.items() if k != "content"}
        assert split_think(old["content"]).visible == split_think(new["content"]).visible
    assert record["cot_compression"]["rewritten"] == 4
    figures = json.loads(summary.read_text())
    assert figures["compressed"] == 1 and figures["compression ratio (after / before)"] < 0.3
