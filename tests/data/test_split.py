"""Splits: RL predicate, hash ordering, determinism, disjointness, sizes, duplicates, files, manifest, CLI."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cm2.cli import app
from cm2.data.errors import RecordError
from cm2.data.io import write_records
from cm2.data.shape import dialogue_shape
from cm2.data.split import (
    Part,
    RLFilter,
    SplitConfig,
    SplitPlanner,
    parse_size,
    resolve_size,
    split_key,
)
from cm2.data.split_run import MANIFEST_NAME, load_manifest, run_split
from cm2.schema import Dialogue

Record = dict[str, Any]


def record(uuid: str, calls_per_turn: list[list[str]], *, extra: Record | None = None) -> Record:
    """A cm2 record: one turn per entry, each calling the named tools in one assistant step, then replying."""
    names = sorted({name for turn in calls_per_turn for name in turn}) or ["noop"]
    tools = [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}} for name in names]
    messages: list[Record] = []
    for turn, calls in enumerate(calls_per_turn):
        messages.append({"role": "user", "content": f"question {turn}"})
        if calls:
            ids = [f"c{turn}_{i}" for i in range(len(calls))]
            messages.append(
                {
                    "role": "assistant",
                    "content": "<think>\nplan\n</think>",
                    "tool_calls": [
                        {"id": i, "type": "function", "function": {"name": n, "arguments": "{}"}}
                        for i, n in zip(ids, calls, strict=True)
                    ],
                }
            )
            messages.extend({"role": "tool", "tool_call_id": i, "content": "{}"} for i in ids)
        messages.append({"role": "assistant", "content": "<think>\ndone\n</think>\n\nanswer"})
    return {"uuid": uuid, "messages": messages, "tools": tools, **(extra or {})}


def pool(n: int, seed: int = 7) -> list[Record]:
    """`n` records, about half of them RL-eligible under the default filter (2 turns, 2 calls)."""
    rng = random.Random(seed)
    shapes: list[list[list[str]]] = [
        [["a"]],
        [["a"], []],
        [["a"], ["b"]],
        [["a", "a"], ["b"]],
        [[]],
        [["a", "b"], [], ["a"]],
    ]
    return [record(f"d{i:04d}", rng.choice(shapes), extra={"n": i}) for i in range(n)]


def plan(records: list[Record], config: SplitConfig) -> dict[Part, set[str]]:
    planner = SplitPlanner(config)
    for item in records:
        planner.add(Dialogue.model_validate(item))
    result = planner.plan()
    sets: dict[Part, set[str]] = {part: set() for part in Part}
    for index, item in enumerate(records):
        sets[result.part(index)].add(item["uuid"])
    return sets


def eligible(item: Record, rl_filter: RLFilter | None = None) -> bool:
    return (rl_filter or RLFilter()).accepts(dialogue_shape(Dialogue.model_validate(item)))


def test_shape_and_rl_filter_thresholds() -> None:
    shape = dialogue_shape(Dialogue.model_validate(record("x", [["a", "b"], [], ["a"]])))
    assert (shape.turns, shape.steps, shape.tool_calls, shape.distinct_tools, shape.tools) == (3, 5, 3, 2, 2)
    assert shape.messages == 3 + 5 + 3
    assert RLFilter().accepts(shape)
    assert not RLFilter(min_turns=4).accepts(shape)
    assert not RLFilter(min_tool_calls=4).accepts(shape)
    assert RLFilter(min_distinct_tools=2).accepts(shape)
    assert not RLFilter(min_distinct_tools=3).accepts(shape)
    single_turn = dialogue_shape(Dialogue.model_validate(record("y", [["a", "b"]])))
    assert not RLFilter().accepts(single_turn)  # multi-tool but one turn
    one_call = dialogue_shape(Dialogue.model_validate(record("z", [["a"], []])))
    assert not RLFilter().accepts(one_call)  # multi-turn but one call


def test_sizes_parse_resolve_and_validate() -> None:
    assert parse_size("8000") == 8000 and parse_size("0.25") == 0.25 and parse_size(" ALL ") == "all"
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")
    assert resolve_size(0.5, 7) == 4 and resolve_size("all", 7) == 7 and resolve_size(3, 7) == 3
    for bad in (-1, 1.5, 0.0, True):
        with pytest.raises(ValueError):
            SplitConfig(cold_start=bad)
    with pytest.raises(ValueError):
        SplitConfig.model_validate({"unknown_key": 1})


def test_key_is_a_stable_hash_of_seed_and_uuid() -> None:
    digest = hashlib.blake2b(b"3:rl:abc", digest_size=8).digest()
    assert split_key(3, "rl", "abc") == int.from_bytes(digest, "big")
    assert split_key(3, "rl", "abc") != split_key(4, "rl", "abc") != split_key(3, "cold_start", "abc")


def test_deterministic_and_independent_of_input_order() -> None:
    records = pool(300)
    config = SplitConfig(seed=5, cold_start=60, rl=40, rl_val=10)
    first = plan(records, config)
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    assert plan(shuffled, config) == first
    assert plan(records, config.with_overrides({"seed": 6}))[Part.COLD_START] != first[Part.COLD_START]


def test_sets_are_disjoint_sized_and_follow_the_paper_order() -> None:
    records = pool(300)
    config = SplitConfig(seed=0, cold_start=60, rl=40, rl_val=10)
    sets = plan(records, config)
    cold, val, train = sets[Part.COLD_START], sets[Part.RL_VAL], sets[Part.RL_TRAIN]
    assert (len(cold), len(val), len(train)) == (60, 10, 40)
    assert not (cold & val) and not (cold & train) and not (val & train)
    by_uuid = {item["uuid"]: item for item in records}
    assert all(eligible(by_uuid[u]) for u in val | train)
    # Cold start takes the lowest cold keys of the whole pool; the hold-out the lowest RL keys of the
    # eligible dialogues left, RL training the next ones.
    assert cold == set(sorted(by_uuid, key=lambda u: split_key(0, "cold_start", u))[:60])
    rest = sorted((u for u in by_uuid if u not in cold and eligible(by_uuid[u])), key=lambda u: split_key(0, "rl", u))
    assert val == set(rest[:10]) and train == set(rest[10:50])


def test_exclude_rl_eligible_from_cold_start() -> None:
    records = pool(300)
    by_uuid = {item["uuid"]: item for item in records}
    config = SplitConfig(cold_start=50, rl=20, rl_val=5, exclude_rl_eligible_from_cold_start=True)
    sets = plan(records, config)
    assert len(sets[Part.COLD_START]) == 50
    assert not any(eligible(by_uuid[u]) for u in sets[Part.COLD_START])


def test_fractions_all_and_shortfall() -> None:
    records = pool(200)
    n_eligible = sum(eligible(item) for item in records)
    planner = SplitPlanner(SplitConfig(cold_start=0.25, rl="all", rl_val=0.1))
    for item in records:
        planner.add(Dialogue.model_validate(item))
    counts = planner.plan().counts
    assert counts.cold_start.selected == 50
    pool_size = counts.rl_val.candidates
    assert counts.rl_val.selected == resolve_size(0.1, pool_size)
    assert counts.rl_train.selected == pool_size - counts.rl_val.selected
    assert counts.unused == 200 - 50 - pool_size
    assert counts.rl_eligible == n_eligible

    planner = SplitPlanner(SplitConfig(cold_start=150, rl=1000, rl_val=5))
    for item in records:
        planner.add(Dialogue.model_validate(item))
    counts = planner.plan().counts
    assert counts.rl_train.requested == 1000 and counts.rl_train.short == 1000 - counts.rl_train.selected > 0


def test_growing_the_pool_only_moves_sets_at_their_edges() -> None:
    records = pool(2400)
    config = SplitConfig(cold_start=400, rl=300, rl_val=100)
    before = plan(records[:2000], config)
    after = plan(records, config)
    added = {item["uuid"] for item in records[2000:]}
    displaced = before[Part.COLD_START] - after[Part.COLD_START]
    assert after[Part.COLD_START] <= before[Part.COLD_START] | added
    assert after[Part.RL_VAL] <= before[Part.RL_VAL] | displaced | added
    assert after[Part.RL_TRAIN] <= before[Part.RL_VAL] | before[Part.RL_TRAIN] | displaced | added
    # 20% more dialogues: about 1/1.2 of each set stays. With one key shared by all stages, what cold
    # start gives up (its highest keys) would be the RL pool's lowest and fill most of the hold-out.
    assert len(after[Part.COLD_START] & before[Part.COLD_START]) >= 300
    assert len(after[Part.RL_VAL] & before[Part.RL_VAL]) >= 65
    assert len(after[Part.RL_TRAIN] & before[Part.RL_TRAIN]) >= 180


def test_duplicates_keep_the_first_occurrence() -> None:
    records = pool(20)
    twin = dict(records[3], n=999)
    planner = SplitPlanner(SplitConfig(cold_start="all", rl=0, rl_val=0))
    for item in [*records, twin]:
        planner.add(Dialogue.model_validate(item))
    result = planner.plan()
    assert result.counts.duplicates == 1
    assert result.part(20) is Part.DUPLICATE and result.part(3) is Part.COLD_START


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[Record]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_run_split_writes_original_records_and_manifest(tmp_path: Path) -> None:
    records = pool(120)
    records[0]["custom"] = {"kept": [1, "x"]}
    source = write_jsonl(tmp_path / "pool.jsonl", [json.dumps(item) for item in records])
    config = SplitConfig(seed=2, cold_start=30, rl=20, rl_val=5)
    manifest = run_split(source, tmp_path / "out", config)

    by_uuid = {item["uuid"]: item for item in records}
    seen: set[str] = set()
    for name, expected in (("cold_start", 30), ("rl_train", 20), ("rl_val", 5)):
        file = tmp_path / "out" / f"{name}.jsonl"
        rows = read_jsonl(file)
        assert len(rows) == expected == manifest.outputs[name].records
        assert all(row == by_uuid[row["uuid"]] for row in rows)  # the input dicts, unchanged
        assert manifest.outputs[name].sha256 == hashlib.sha256(file.read_bytes()).hexdigest()
        seen |= {row["uuid"] for row in rows}
    assert len(seen) == 55

    on_disk = load_manifest(tmp_path / "out" / MANIFEST_NAME)
    assert on_disk == manifest
    assert on_disk.seed == 2 and on_disk.config == config
    assert on_disk.input.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert on_disk.input.records == 120 and on_disk.input.path == str(source)

    # Same pool in another order and another file format: the same sets.
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    write_records(tmp_path / "pool.parquet", shuffled)
    again = run_split(tmp_path / "pool.parquet", tmp_path / "again", config)
    for name in ("cold_start", "rl_train", "rl_val"):
        assert {r["uuid"] for r in read_jsonl(tmp_path / "again" / f"{name}.jsonl")} == {
            r["uuid"] for r in read_jsonl(tmp_path / "out" / f"{name}.jsonl")
        }
    assert again.counts == manifest.counts


def test_bad_records_fail_with_their_location_or_are_skipped(tmp_path: Path) -> None:
    lines = [json.dumps(item) for item in pool(10)]
    lines.insert(4, '{"uuid": "broken", "messages": "not a list"}')
    lines.insert(7, "{not json")
    duplicate = json.loads(lines[0])
    lines.append(json.dumps(duplicate))
    source = write_jsonl(tmp_path / "pool.jsonl", lines)

    with pytest.raises(RecordError, match=r"pool\.jsonl:5"):
        run_split(source, tmp_path / "out", SplitConfig())
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()

    manifest = run_split(source, tmp_path / "out", SplitConfig(cold_start="all"), skip_invalid=True)
    assert manifest.counts.invalid == 2 and manifest.counts.duplicates == 1
    assert [item.location for item in manifest.invalid] == [f"{source}:5", f"{source}:8"]
    assert manifest.duplicates[0].uuid == duplicate["uuid"] and manifest.duplicates[0].location == f"{source}:13"
    assert manifest.outputs["cold_start"].records == 10


def test_config_from_yaml_with_flat_overrides(tmp_path: Path) -> None:
    file = tmp_path / "split.yaml"
    file.write_text("seed: 4\ncold_start: 0.5\nrl: all\nrl_filter:\n  min_turns: 3\n", encoding="utf-8")
    config = SplitConfig.from_yaml(file)
    assert (config.seed, config.cold_start, config.rl, config.rl_val) == (4, 0.5, "all", 500)
    assert config.rl_filter.min_turns == 3 and config.rl_filter.min_tool_calls == 2
    changed = config.with_overrides({"seed": None, "min_tool_calls": 5, "rl_val": 7})
    assert (changed.seed, changed.rl_filter.min_turns, changed.rl_filter.min_tool_calls, changed.rl_val) == (4, 3, 5, 7)


def test_cli_split(tmp_path: Path) -> None:
    records = pool(80)
    source = write_jsonl(tmp_path / "pool.jsonl", [json.dumps(item) for item in records])
    (tmp_path / "split.yaml").write_text("cold_start: 10\nrl_val: 3\n", encoding="utf-8")
    runner = CliRunner()
    args = ["data", "split", str(source), str(tmp_path / "out"), "--config", str(tmp_path / "split.yaml")]
    result = runner.invoke(app, [*args, "--seed", "1", "--rl", "all", "--min-turns", "3"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert manifest["config"]["cold_start"] == 10 and manifest["config"]["rl"] == "all"
    assert manifest["config"]["rl_filter"]["min_turns"] == 3 and manifest["seed"] == 1
    assert manifest["counts"]["rl_val"]["selected"] == 3
    assert len(read_jsonl(tmp_path / "out" / "rl_train.jsonl")) == manifest["counts"]["rl_train"]["selected"] > 0
    assert "cold_start" in result.output

    bad = runner.invoke(app, ["data", "split", str(source), str(tmp_path / "x"), "--cold-start", "-3"])
    assert bad.exit_code == 2 and "count must be >= 0" in bad.output


def test_a_pool_that_changes_between_the_two_reads_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cm2.data.split_run as split_run

    source = write_jsonl(tmp_path / "pool.jsonl", [json.dumps(item) for item in pool(10)])
    reads = 0
    real = split_run.iter_records

    def growing(path: Any, fmt: Any = None) -> Any:
        nonlocal reads
        reads += 1
        if reads == 2:
            with open(source, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record("late", [["a"]])) + "\n")
        return real(path, fmt)

    monkeypatch.setattr(split_run, "iter_records", growing)
    with pytest.raises(RuntimeError, match="changed during the split"):
        run_split(source, tmp_path / "out", SplitConfig(cold_start=3))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
