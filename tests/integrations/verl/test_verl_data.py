"""Dataset rows for VeRL: the converter, its CLI, and the `data.custom_cls` dataset read by VeRL's own
RLHFDataset (the VeRL parts skip without VeRL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cm2.data.samples import sample_path
from cm2.data.synthetic import synthetic_dialogues
from cm2.integrations.verl.prepare import app, prepare
from cm2.integrations.verl.rows import is_rows_file, prompt_tokens
from cm2.integrations.verl.services import dialogue_from_row
from cm2.llm.testing import build_tiny_tokenizer
from cm2.schema import Dialogue
from cm2.testing import weather_dialogue


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """The released sample (one checklist), a two-turn weather dialogue, and two without a checklist."""
    records = json.loads(sample_path().read_text(encoding="utf-8"))
    records.append(weather_dialogue().dump())
    records += [item.record for item in synthetic_dialogues(2, seed=0)]
    return write_jsonl(tmp_path / "rl.jsonl", records)


def test_prepare_writes_one_row_per_checklist(tmp_path: Path, source: Path) -> None:
    out = tmp_path / "train.parquet"
    report = prepare(source, out)
    assert report.summary() == {"dialogues": 4, "rows": 2, "skipped": {"no checklist": 2}}
    assert is_rows_file(str(out)) and not is_rows_file(str(source))
    rows = pq.read_table(out).to_pylist()
    assert [r["extra_info"]["index"] for r in rows] == [0, 1]
    assert {r["agent_name"] for r in rows} == {"cm2_agent"} and {r["data_source"] for r in rows} == {"cm2"}
    weather = rows[1]
    assert weather["prompt"] == [
        {"role": "system", "content": "You are a weather assistant."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    dialogue, checklist = dialogue_from_row(weather["extra_info"])
    assert checklist == 0 and dialogue.dump() == weather_dialogue().dump()


def test_prepare_drops_prompts_that_do_not_fit(tmp_path: Path, source: Path) -> None:
    tokenizer = build_tiny_tokenizer()
    sample = Dialogue.model_validate(json.loads(sample_path().read_text(encoding="utf-8"))[0])
    lengths = {sample.uuid: prompt_tokens(sample, tokenizer), "w2": prompt_tokens(weather_dialogue(), tokenizer)}
    shortest, longest = sorted(lengths, key=lengths.__getitem__)
    assert lengths[shortest] < lengths[longest]
    limit = lengths[shortest]
    report = prepare(source, tmp_path / "short.parquet", tokenizer=tokenizer, max_prompt_length=limit)
    assert report.rows == 1 and report.skipped[f"first prompt over {limit} tokens"] == [longest]
    with pytest.raises(ValueError, match="no dialogue with a checklist"):
        prepare(source, tmp_path / "empty.parquet", tokenizer=tokenizer, max_prompt_length=limit - 1)
    assert not (tmp_path / "empty.parquet").exists()


def test_prepare_names_a_bad_checklist(tmp_path: Path) -> None:
    record = weather_dialogue().dump()
    record["checklists"][0][1][1]["dependence"] = ["C9"]
    path = write_jsonl(tmp_path / "bad.jsonl", [record])
    with pytest.raises(
        ValueError, match=r"bad.jsonl:1: dialogue w2, checklist 0, turn 1, item C1, field dependence: .*'C9'"
    ):
        prepare(path, tmp_path / "bad.parquet")
    assert not (tmp_path / "bad.parquet").exists()


def test_cli(tmp_path: Path, source: Path) -> None:
    out = tmp_path / "cli.parquet"
    result = CliRunner().invoke(app, [str(source), str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "out": str(out),
        "dialogues": 4,
        "rows": 2,
        "skipped": {"no checklist": 2},
    }
    missing = CliRunner().invoke(app, [str(tmp_path / "nope.jsonl"), str(out)])
    assert missing.exit_code == 1 and "no such file" in missing.output
    needs = CliRunner().invoke(app, [str(source), str(out), "--max-prompt-length", "10"])
    assert needs.exit_code != 0 and "needs --tokenizer" in needs.output


def verl_data_config(**extra: Any) -> Any:
    from omegaconf import OmegaConf

    base = {"max_prompt_length": 4096, "filter_overlong_prompts": True, "shuffle": False, "return_raw_chat": True}
    return OmegaConf.create({**base, **extra})


def test_rlhf_dataset_reads_prepared_rows(tmp_path: Path, source: Path) -> None:
    pytest.importorskip("verl")
    from verl.utils.dataset.rl_dataset import RLHFDataset

    out = tmp_path / "train.parquet"
    prepare(source, out)
    dataset = RLHFDataset(str(out), build_tiny_tokenizer(), verl_data_config(cache_dir=str(tmp_path / "cache")))
    assert len(dataset) == 2
    item = dataset[1]
    assert item["agent_name"] == "cm2_agent" and item["index"] == 1
    assert item["raw_prompt"][-1] == {"role": "user", "content": "Weather in Paris?"}
    dialogue, _ = dialogue_from_row(item["extra_info"])
    assert dialogue.uuid == "w2" and len(dialogue.checklists[0]) == 2


def test_custom_dataset_converts_cm2_files_once(tmp_path: Path, source: Path) -> None:
    pytest.importorskip("verl")
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import get_dataset_class

    cls = get_dataset_class(
        OmegaConf.create({"custom_cls": {"path": "pkg://cm2.integrations.verl.dataset", "name": "CM2ChecklistDataset"}})
    )
    config = verl_data_config(cache_dir=str(tmp_path / "cache"))
    dataset = cls([str(source)], build_tiny_tokenizer(), config)
    assert len(dataset) == 2 and dataset[1]["extra_info"]["cm2_uuid"] == "w2"
    cached = list((tmp_path / "cache" / "cm2").glob("*.parquet"))
    assert len(cached) == 1 and is_rows_file(str(cached[0]))
    stamp = cached[0].stat().st_mtime_ns
    again = cls([str(source)], build_tiny_tokenizer(), config)
    assert len(again) == 2 and cached[0].stat().st_mtime_ns == stamp  # not converted twice


def test_a_per_turn_task_row_carries_its_reference_history_with_the_tool_calls() -> None:
    from cm2.data.turn_tasks import turn_tasks
    from cm2.integrations.verl.rows import verl_rows

    tokenizer = build_tiny_tokenizer()
    dialogue = weather_dialogue()
    task = turn_tasks(dialogue)[1]
    row = next(verl_rows([task]))
    roles = [m["role"] for m in row["prompt"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert row["prompt"][2]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": {"city": "Paris"}}
    # the prompt-length filter counts the history too
    assert prompt_tokens(task, tokenizer) > prompt_tokens(turn_tasks(dialogue)[0], tokenizer)
