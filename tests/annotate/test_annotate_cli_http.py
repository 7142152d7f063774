"""`cm2 label` end to end against a real HTTP server (cm2.llm.testing) that injects faults, runs killed
with SIGKILL then resumed, and endpoint outages (401, 500, hang, refused) that must never become failures."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cm2.annotate.config import ValidationConfig
from cm2.annotate.validate import checklist_problems
from cm2.cli import app
from cm2.llm.testing import OUTAGES, FakeOpenAIServer, FaultConfig, outage_base_url
from cm2.schema import Dialogue, validate_dialogue
from cm2.testing.annotation import find_dialogue, order_dialogue, reference_answer
from cm2.testing.processes import kill_cli_when


def _dataset(path: Path, n: int) -> list[Dialogue]:
    dialogues = [order_dialogue(i) for i in range(n)]
    path.write_text("".join(json.dumps(d.dump()) + "\n" for d in dialogues), encoding="utf-8")
    return dialogues


class _Annotator:
    """A scripted annotator behind HTTP: a valid checklist, except every `junk_every`-th answer is prose
    (not JSON) and every `broken_every`-th first answer quotes evidence the dialogue never said."""

    def __init__(self, dialogues: list[Dialogue], junk_every: int = 0, broken_every: int = 0):
        self.dialogues = dialogues
        self.junk_every = junk_every
        self.broken_every = broken_every
        self.answers = self.junk_sent = self.broken_sent = 0

    def __call__(self, body: dict[str, Any]) -> str:
        dialogue = find_dialogue(body["messages"], self.dialogues)
        answer = reference_answer(dialogue)
        self.answers += 1
        if self.junk_every and self.answers % self.junk_every == 0:
            self.junk_sent += 1
            return "Sure! Here is the checklist you asked for: {turns: oops"
        if self.broken_every and self.answers % self.broken_every == 1 and len(body["messages"]) == 2:
            self.broken_sent += 1
            answer["turns"][0]["items"][0]["evidence"][0]["snippet"] = "words the dialogue never said"
        return json.dumps(answer)


def _config(path: Path, base_url: str, **llm: Any) -> Path:
    data = {
        "llm": {"model": "fake-model", "base_urls": [base_url], "api_key_env": None, **llm},
        "concurrency": 4,
        "label": {"max_repair_rounds": 2},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _ids(path: Path) -> list[str]:
    """The ids of the complete lines (a line torn by SIGKILL is left out: the next run cuts it off)."""
    if not path.exists():
        return []
    ids = []
    for line in path.read_text().splitlines():
        try:
            ids.append(json.loads(line)["uuid"])
        except json.JSONDecodeError:
            continue
    return ids


def test_label_completes_through_injected_faults(tmp_path: Path) -> None:
    dialogues = _dataset(tmp_path / "in.jsonl", 30)
    every_kind: list[Any] = ["error_500", "hang", "invalid_body", "truncated", "error_429"]
    faults = FaultConfig(
        error_500=0.1, error_429=0.03, hang=0.03, invalid_body=0.06, truncated=0.06, hang_s=3.0, plan=every_kind
    )
    prices = tmp_path / "prices.yaml"
    prices.write_text(yaml.safe_dump({"fake-model": {"prompt": 1.0, "completion": 2.0}}))
    annotator = _Annotator(dialogues, junk_every=12, broken_every=6)
    server = FakeOpenAIServer(annotator, faults=faults, seed=3)
    with server:
        config = _config(
            tmp_path / "label.yaml",
            "http://127.0.0.1:9/v1",
            timeout_s=1.0,
            max_retries=3,
            backoff_base_s=0.01,
            backoff_max_s=0.05,
            json_attempts=2,
            cooldown_s=0.0,
        )
        args = [
            "label",
            str(tmp_path / "in.jsonl"),
            str(tmp_path / "out.jsonl"),
            "--config",
            str(config),
            "--set",
            f"llm.base_url={server.base_url}",
            "--set",
            f"llm.prices={prices}",
            "--no-progress",
            "--summary",
            str(tmp_path / "summary.json"),
        ]
        outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 0, outcome.output
    assert len(server.faults) == 5 and annotator.junk_sent > 0 and annotator.broken_sent > 0
    assert sum(server.faults.values()) + annotator.junk_sent >= 0.15 * server.request_count
    labeled, failed = _ids(tmp_path / "out.jsonl"), _ids(tmp_path / "out.failures.jsonl")
    assert len(labeled) + len(failed) == len({*labeled, *failed}) == 30  # every dialogue once, none lost
    assert len(labeled) >= 20
    for line in (tmp_path / "out.jsonl").read_text().splitlines():
        record = json.loads(line)
        dialogue = validate_dialogue(Dialogue.model_validate(record))
        assert checklist_problems(dialogue, dialogue.checklists[0], ValidationConfig()) == []
        assert record["checklists"][0][0][0]["extra_info"]["price_usd"] > 0
        source = next(d for d in dialogues if d.uuid == record["uuid"]).dump()
        assert {k: v for k, v in record.items() if k != "checklists"} == source
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["labeled"] == len(labeled) and summary["failed"] == len(failed)
    assert summary["cost usd"] > 0 and summary["LLM requests"] >= 30
    assert summary["checklists written"] == len(labeled) and summary["requests per checklist"] > 1  # repairs


def test_sigkill_mid_run_then_rerun_loses_and_repeats_nothing(tmp_path: Path) -> None:
    dialogues = _dataset(tmp_path / "in.jsonl", 30)
    out, failures = tmp_path / "out.jsonl", tmp_path / "out.failures.jsonl"
    with FakeOpenAIServer(_Annotator(dialogues), latency_s=0.25) as server:
        config = _config(tmp_path / "label.yaml", server.base_url, timeout_s=5.0)
        args = ["label", str(tmp_path / "in.jsonl"), str(out), "--config", str(config), "--no-progress"]
        process = kill_cli_when(args, lambda: len(_ids(out)) >= 5)
        first = _ids(out)
        assert process.returncode == -signal.SIGKILL, process.stderr.read().decode() if process.stderr else ""
        assert 5 <= len(first) < 30  # the kill landed mid-run
        outcome = CliRunner().invoke(app, [*args, "--summary", str(tmp_path / "summary.json")])
    assert outcome.exit_code == 0, outcome.output
    labeled = _ids(out)
    assert sorted(labeled) == sorted(d.uuid for d in dialogues) and not _ids(failures)
    assert labeled[: len(first)] == first  # what was finished stayed, in place
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["skipped (already done)"] == len(first) and summary["labeled"] == 30 - len(first)


@contextmanager
def _endpoint(outage: str, dialogues: list[Dialogue]) -> Iterator[str]:
    with outage_base_url(outage, _Annotator(dialogues)) as url:
        yield url


def _label(tmp_path: Path, url: str, *extra: str) -> Any:
    config = _config(tmp_path / "label.yaml", url, timeout_s=0.5, max_retries=1, backoff_base_s=0.01, cooldown_s=0.0)
    args = ["label", str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), "--config", str(config)]
    return CliRunner().invoke(
        app, [*args, "--no-progress", "--set", "label.max_repair_rounds=0", *extra], catch_exceptions=False
    )


@pytest.mark.parametrize("outage", sorted(OUTAGES))
def test_an_outage_is_never_recorded_as_a_failure_and_a_rerun_labels(tmp_path: Path, outage: str) -> None:
    dialogues = _dataset(tmp_path / "in.jsonl", 6)
    out, failures = tmp_path / "out.jsonl", tmp_path / "out.failures.jsonl"
    with _endpoint(outage, dialogues) as url:
        down = _label(tmp_path, url)
    assert down.exit_code == 1, down.output
    assert _ids(out) == [] and _ids(failures) == []  # neither done nor failed: still to do
    error = next(line for line in down.output.splitlines() if line.startswith("error:"))
    assert "6 dialogue(s) unfinished" in error and "request failed" in error and "run again" in error
    with FakeOpenAIServer(_Annotator(dialogues)) as server:
        up = _label(tmp_path, server.base_url)
    assert up.exit_code == 0, up.output
    assert sorted(_ids(out)) == sorted(d.uuid for d in dialogues) and _ids(failures) == []


def test_allow_partial_records_the_outage_as_failures_and_exits_0(tmp_path: Path) -> None:
    dialogues = _dataset(tmp_path / "in.jsonl", 3)
    with _endpoint("401", dialogues) as url:
        accepted = _label(tmp_path, url, "--allow-partial")
        assert accepted.exit_code == 0, accepted.output
        assert sorted(_ids(tmp_path / "out.failures.jsonl")) == sorted(d.uuid for d in dialogues)
        again = _label(tmp_path, url)
    assert again.exit_code == 0 and _ids(tmp_path / "out.jsonl") == []  # accepted means done


def test_sigkill_and_flaky_endpoint_then_reruns_label_everything_once(tmp_path: Path) -> None:
    dialogues = _dataset(tmp_path / "in.jsonl", 30)
    out, failures = tmp_path / "out.jsonl", tmp_path / "out.failures.jsonl"
    faults = FaultConfig(error_500=0.3, error_401=0.2)
    with FakeOpenAIServer(_Annotator(dialogues), faults=faults, seed=11, latency_s=0.1) as server:
        config = _config(tmp_path / "label.yaml", server.base_url, max_retries=0, backoff_base_s=0.01, cooldown_s=0.0)
        args = ["label", str(tmp_path / "in.jsonl"), str(out), "--config", str(config), "--no-progress"]
        process = kill_cli_when(args, lambda: len(_ids(out)) >= 3)
        assert process.returncode == -signal.SIGKILL, process.stderr.read().decode() if process.stderr else ""
        first = _ids(out)
        assert 3 <= len(first) < 30  # the kill landed mid-run
        exits = []
        for _ in range(20):  # still flaky: each rerun tries only the dialogues not yet done
            exits.append(CliRunner().invoke(app, args).exit_code)
            if exits[-1] == 0:
                break
    assert exits[-1] == 0 and set(exits) <= {0, 1}, exits
    assert server.faults["error_401"] > 0 and server.faults["error_500"] > 0
    labeled = _ids(out)
    assert sorted(labeled) == sorted(d.uuid for d in dialogues)  # none lost, none twice
    assert _ids(failures) == []  # the annotator never failed: no outage was recorded as its failure
    assert labeled[: len(first)] == first


@pytest.mark.parametrize("outage", ["401", "refused"])
def test_filter_llm_outage_is_never_a_rejection(tmp_path: Path, outage: str) -> None:
    dialogues = _dataset(tmp_path / "in.jsonl", 4)
    keep = json.dumps({"keep": True, "reasons": []})
    out, rejected = tmp_path / "kept.jsonl", tmp_path / "kept.rejected.jsonl"

    def run(url: str) -> Any:
        config = _config(tmp_path / "filter.yaml", url, timeout_s=0.5, max_retries=1, backoff_base_s=0.01)
        args = [
            "filter-llm",
            str(tmp_path / "in.jsonl"),
            str(out),
            "--config",
            str(config),
            "--set",
            "filter.stages=[low]",
        ]
        return CliRunner().invoke(app, [*args, "--no-progress"], catch_exceptions=False)

    with _endpoint(outage, dialogues) as url:
        down = run(url)
    assert down.exit_code == 1 and "4 dialogue(s) unfinished" in down.output, down.output
    assert _ids(out) == [] and _ids(rejected) == []
    with FakeOpenAIServer(lambda body: keep) as server:
        up = run(server.base_url)
    assert up.exit_code == 0, up.output
    assert sorted(_ids(out)) == sorted(d.uuid for d in dialogues) and _ids(rejected) == []
