"""Statistics: per-dialogue numbers, token counters (approximate and a real HF tokenizer), aggregates, plots, CLI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cm2.cli import app
from cm2.data.plots import write_histograms
from cm2.data.stats import METRICS, StatsReport, compute_stats, histogram, measure, summarize
from cm2.data.tokens import ApproxTokenCounter, HFTokenCounter, dialogue_texts, load_token_counter
from cm2.schema import Dialogue


class WordCounter:
    """A stand-in tokenizer: one token per whitespace-separated word."""

    name = "words"

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) for text in texts]


def hand_built() -> Dialogue:
    """2 turns; 4 assistant steps; 3 calls of 2 distinct tools out of 3 offered; 9 messages."""
    call = {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    other = {"type": "function", "function": {"name": "get_time", "arguments": {"zone": "CET"}}}
    tools = [
        {"type": "function", "function": {"name": n, "description": "d", "parameters": {"type": "object"}}}
        for n in ("get_weather", "get_time", "unused")
    ]
    return Dialogue.model_validate(
        {
            "uuid": "hand",
            "tools": tools,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "weather and time in Oslo?"},
                {"role": "assistant", "content": "<think>\nneed two tools\n</think>", "tool_calls": [call, other]},
                {"role": "tool", "tool_call_id": "a", "content": '{"temp": 3}'},
                {"role": "tool", "tool_call_id": "b", "content": '{"time": "10:00"}'},
                {"role": "assistant", "content": "<think>\ngot both\n</think>\n\nIt is 3 degrees at 10:00."},
                {"role": "user", "content": "and again?"},
                {"role": "assistant", "content": "<think>\nrepeat\n</think>", "tool_calls": [call]},
                {"role": "assistant", "content": "Still 3 degrees."},
            ],
        }
    )


def test_measure_hand_built_dialogue() -> None:
    [stats] = measure([hand_built()], WordCounter())
    assert (stats.turns, stats.steps, stats.tool_calls, stats.distinct_tools) == (2, 4, 3, 2)
    assert (stats.tools, stats.messages) == (3, 9)
    assert stats.reasoning_tokens == 3 + 2 + 1  # "need two tools", "got both", "repeat"
    reasoning, other = dialogue_texts(hand_built())
    assert reasoning == ["need two tools", "got both", "repeat"]
    assert 'get_weather {"city": "Oslo"}' in other and 'get_time {"zone": "CET"}' in other
    assert "It is 3 degrees at 10:00." in other and "be brief" in other
    assert sum(1 for text in other if text.startswith('{"name"')) == 3  # one spec per offered tool
    assert stats.tokens == stats.reasoning_tokens + sum(len(text.split()) for text in other)


def test_batches_give_the_same_numbers_as_single_dialogues(sample_path: Path) -> None:
    dialogues = [hand_built(), *(Dialogue.model_validate(r) for r in json.loads(sample_path.read_text()))] * 3
    one_batch = compute_stats(dialogues, ApproxTokenCounter(), batch_size=64).report("approx")
    singles = compute_stats(dialogues, ApproxTokenCounter(), batch_size=1).report("approx")
    assert one_batch == singles and one_batch.dialogues == 6


def test_approx_counter_rules() -> None:
    counter = ApproxTokenCounter()
    assert counter.count(["hello", "internationalization", "12345", "a_b", "  \n "]) == [1, 3, 5, 2, 0]
    assert counter.count(['{"a": 1}', "数据数据数", "Привет"]) == [
        len(["{", "a", '":', "1", "}"]),
        3,
        2,
    ]


def test_approx_ascii_fast_path_counts_like_the_general_rule() -> None:
    import random

    from cm2.data.tokens import _ASCII_PIECES, _PIECES

    every = "".join(map(chr, range(128)))
    rng = random.Random(0)
    texts = [every, *("".join(rng.choices(every, k=rng.randint(0, 80))) for _ in range(500))]
    assert all(_ASCII_PIECES.findall(text) == _PIECES.findall(text) for text in texts)


def test_sample_stats(sample_path: Path) -> None:
    dialogue = Dialogue.model_validate(json.loads(sample_path.read_text())[0])
    [stats] = measure([dialogue], ApproxTokenCounter())
    assert (stats.turns, stats.steps, stats.tool_calls, stats.distinct_tools, stats.messages) == (3, 4, 1, 1, 8)
    characters = sum(len(text) for group in dialogue_texts(dialogue) for text in group)
    # English with some JSON runs at 4-5 characters per token for BPE vocabularies.
    assert characters / 5 < stats.tokens < characters / 3.5
    assert 0 < stats.reasoning_tokens < stats.tokens


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (small) BPE tokenizer, trained offline on the reference sample, saved as an HF folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from cm2.data.samples import sample_path

    text = sample_path().read_text(encoding="utf-8")
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["[UNK]"], show_progress=False)
    tokenizer.train_from_iterator([text], trainer=trainer)
    directory = tmp_path_factory.mktemp("tokenizer")
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]").save_pretrained(directory)
    return directory


def test_hf_counter_matches_the_tokenizer(tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer

    counter = load_token_counter(str(tokenizer_dir))
    assert isinstance(counter, HFTokenCounter) and counter.name == str(tokenizer_dir)
    reference = AutoTokenizer.from_pretrained(tokenizer_dir)
    texts = ["Washington Huskies last 5 games", '{"teamid": "Washington Huskies"}', ""]
    assert counter.count(texts) == [len(reference.encode(t, add_special_tokens=False)) for t in texts]
    assert counter.count([]) == []
    with pytest.raises(ValueError, match="cannot load tokenizer"):
        load_token_counter(str(tokenizer_dir / "missing"))


def test_summary_and_histogram() -> None:
    summary = summarize("x", np.array([1, 2, 3, 4, 100]))
    assert (summary.count, summary.total, summary.min, summary.max) == (5, 110, 1, 100)
    assert summary.mean == 22.0 and summary.median == 3.0
    assert summary.p90 == pytest.approx(4 + 0.6 * 96)
    assert sum(summary.histogram.counts) == 5 and len(summary.histogram.counts) <= 40
    small = histogram(np.array([2, 2, 3, 5]))
    assert small.edges == [1.5, 2.5, 3.5, 4.5, 5.5] and small.counts == [2, 1, 0, 1]
    empty = summarize("x", np.zeros(0, np.int64))
    assert empty.count == 0 and empty.mean is None and empty.histogram.counts == []


def test_histogram_pngs_are_valid_images(tmp_path: Path, sample_path: Path) -> None:
    dialogues = [hand_built(), Dialogue.model_validate(json.loads(sample_path.read_text())[0])]
    report = compute_stats(dialogues, ApproxTokenCounter()).report("approx")
    files = write_histograms(report, tmp_path)
    assert sorted(f.name for f in files) == sorted(f"{name}.png" for name in METRICS)
    for file in files:
        with Image.open(file) as image:
            assert image.format == "PNG" and image.size == (640, 400)
            image.verify()
    empty = compute_stats([], ApproxTokenCounter()).report("approx")
    assert Image.open(write_histograms(empty, tmp_path / "empty")[0]).format == "PNG"


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_cli_stats(tmp_path: Path, sample_records: list[dict[str, Any]], tokenizer_dir: Path) -> None:
    lines = [json.dumps(hand_built().dump()), json.dumps(sample_records[0]), "{broken"]
    source = write_jsonl(tmp_path / "data.jsonl", lines)
    runner = CliRunner()
    result = runner.invoke(app, ["data", "stats", str(source), "--out", str(tmp_path / "stats")])
    assert result.exit_code == 0, result.output
    report = StatsReport.model_validate_json((tmp_path / "stats" / "stats.json").read_text())
    assert report.dialogues == 2 and report.invalid == 1 and report.tokenizer == "approx"
    assert report.metrics["turns"].total == 2 + 3 and report.metrics["tool_calls"].max == 3
    assert all((tmp_path / "stats" / f"{name}.png").is_file() for name in METRICS)
    assert "turns" in result.output and "data.jsonl:3" in result.output

    exact = runner.invoke(
        app,
        ["data", "stats", str(source), "--tokenizer", str(tokenizer_dir), "--out", str(tmp_path / "x"), "--no-plots"],
    )
    assert exact.exit_code == 0, exact.output
    exact_report = StatsReport.model_validate_json((tmp_path / "x" / "stats.json").read_text())
    assert exact_report.tokenizer == str(tokenizer_dir) and not list((tmp_path / "x").glob("*.png"))
    assert exact_report.metrics["tokens"].total != report.metrics["tokens"].total

    missing = runner.invoke(app, ["data", "stats", str(source), "--tokenizer", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "cannot load tokenizer" in missing.output
