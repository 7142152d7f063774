"""`cm2 demo --tiny` with an LLM endpoint (a real HTTP server on 127.0.0.1): the checklists are written by
the LLM (with a reply item per turn), and the reply items are judged by it during RL and evaluation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytest.importorskip("bfcl_eval")

from cm2.annotate.config import ReferenceLabelConfig, TurnCheckConfig
from cm2.annotate.reference import label_from_reference
from cm2.benchmarks.bfcl.data import ImportOptions, import_bfcl
from cm2.cli import app as cm2_app
from cm2.data.io import read_dialogues
from cm2.demo.stages import read_record
from cm2.llm.testing import FakeOpenAIServer
from cm2.schema import Dialogue, Trajectory

_CRITERION_ID = re.compile(r'"id":\s*"([^"]+)"')


class Annotator:
    """Labels a dialogue with its reference checklist plus reply items, and judges every criterion as met."""

    def __init__(self, dialogues: list[Dialogue]):
        self.by_first_user = {d.turns()[0].user.content or "": d for d in dialogues}
        self.labeled: list[str] = []
        self.judged = 0

    def __call__(self, body: dict[str, Any]) -> str:
        system = str(body["messages"][0].get("content") or "")
        text = "\n".join(str(m.get("content") or "") for m in body["messages"])
        if system.startswith("You write grading checklists"):
            dialogue = next(d for first, d in self.by_first_user.items() if first and first in text)
            self.labeled.append(dialogue.uuid)
            options = ReferenceLabelConfig(
                final_reply_item=True, turn_checks=TurnCheckConfig(mode="off")
            )  # what an LLM labeler writes
            checklist = label_from_reference(dialogue, options).checklists[0]
            return json.dumps({"turns": [{"turn": t, "items": turn.dump_items()} for t, turn in enumerate(checklist)]})
        self.judged += 1
        criteria = text.rsplit("<criteria>", 1)[-1].split("</criteria>", 1)[0]
        ids = list(dict.fromkeys(_CRITERION_ID.findall(criteria)))
        return json.dumps({"verdicts": [{"id": i, "analysis": "looks fine", "satisfied": True} for i in ids]})


def test_tiny_demo_with_an_llm_endpoint(tmp_path: Path) -> None:
    options = {"classes": ["GorillaFileSystem"], "tool_docs": "compact"}
    import_bfcl(tmp_path / "tr.jsonl", ImportOptions(split="train", limit=2, **options), progress=False)
    import_bfcl(tmp_path / "ho.jsonl", ImportOptions(split="heldout", limit=1, **options), progress=False)
    known = [*read_dialogues(tmp_path / "tr.jsonl"), *read_dialogues(tmp_path / "ho.jsonl")]
    annotator = Annotator(known)
    out = tmp_path / "demo"
    with FakeOpenAIServer(annotator) as server:
        llm = f"llm={{model: fake, base_url: '{server.base_url}', api_key_env: CM2_TEST_NO_KEY}}"
        result = CliRunner().invoke(cm2_app, ["demo", "--tiny", "--out", str(out), "--set", llm])
    assert result.exit_code == 0, result.output
    assert sorted(annotator.labeled) == sorted(d.uuid for d in known)
    label = read_record(out / "label")
    assert label is not None and label.outputs["labeler"] == "LLM fake"
    labeled = list(read_dialogues(out / "filter" / "train.jsonl"))
    reply_items = [i for d in labeled for turn in d.checklists[0] for i in turn.items if i.check is None]
    assert reply_items and all(i.focus_on == "assistant.content.user_visible_reply" for i in reply_items)
    # the labeler appends the code-checked turn-end items to what the LLM wrote (BFCL dialogues report their state)
    kinds = {getattr(i.check, "kind", None) for d in labeled for turn in d.checklists[0] for i in turn.items}
    assert {"ends_with_reply", "call_budget", "environment_state"} <= kinds
    assert all(abs(sum(i.weight for i in turn.items) - 1) < 1e-9 for d in labeled for turn in d.checklists[0])
    rollouts = [Trajectory.model_validate_json(line) for line in (out / "rl" / "trajectories.jsonl").open()]
    sources = {v.source for t in rollouts for v in t.verdicts}
    assert "check" in sources  # call items decided in code
    assert "llm" in sources and annotator.judged > 0  # the reply items of replies went to the endpoint
    assert read_record(out / "eval") is not None and (out / "report" / "report.html").is_file()
