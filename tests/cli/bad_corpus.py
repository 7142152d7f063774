"""A corpus of bad inputs for every data-facing verb: broken files, broken records, broken checklists.

`build_corpus(root)` writes each case under `root` and returns them. A case is *hopeless* when nothing
in it is usable (the verb must exit non-zero and leave no output), or *mixed* when one good record sits
beside the bad one (the verb must report the bad record and still do its work).
"""

from __future__ import annotations

import copy
import gzip
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cm2.data.samples import sample_path

Record = dict[str, Any]
Mutation = Callable[[Record], Any]


@dataclass(frozen=True)
class Case:
    """One bad input: its path, whether anything in it is usable, and what it exercises."""

    name: str
    path: Path
    hopeless: bool


def base_record() -> Record:
    """The released reference sample (three turns, one checklist), a record every verb accepts."""
    record: Record = json.loads(sample_path().read_text(encoding="utf-8"))[0]
    return record


def _set(path: str, value: Any) -> Mutation:
    """A mutation setting the dotted `path` (list indices as numbers) to `value`."""

    def mutate(record: Record) -> Record:
        target: Any = record
        keys = [int(k) if k.lstrip("-").isdigit() else k for k in path.split(".")]
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
        return record

    return mutate


def _items(record: Record, turn: int = 0) -> list[Record]:
    items: list[Record] = record["checklists"][0][turn]
    return items


def _weights_5_4(record: Record) -> Record:
    for entry in _items(record):
        entry["weight"] = 5.4 / len(_items(record))
    return record


def _cycle(record: Record) -> Record:
    first, second = _items(record)[:2]
    first["dependence"], second["dependence"] = [second["id"]], [first["id"]]
    return record


def _empty_extra_turns(record: Record) -> Record:
    record["checklists"][0] += [[], [], [], []]
    return record


def _duplicate_item_ids(record: Record) -> Record:
    items = _items(record)
    items[1]["id"] = items[0]["id"]
    return record


def _deep_field(record: Record) -> str:
    record["tools"][0]["function"]["parameters"]["properties"]["deep"] = "DEEP"
    return json.dumps(record).replace('"DEEP"', "[" * 3000 + "]" * 3000)


def _deep_arguments(record: Record) -> Record:
    for message in record["messages"]:
        if message.get("tool_calls"):
            message["tool_calls"][0]["function"]["arguments"] = "[" * 3000 + "]" * 3000
            return record
    raise AssertionError("the sample has no tool call")


def _surrogate(record: Record) -> str:
    line = json.dumps(record)
    return line.replace('"content": "', '"content": "\\ud83c', 1)


def _nan(record: Record) -> str:
    return json.dumps(_set("checklists.0.0.0.weight", float("nan"))(record))


def _infinity(record: Record) -> str:
    return json.dumps(_set("checklists.0.0.0.weight", float("inf"))(record))


RECORD_MUTATIONS: dict[str, Mutation] = {
    "uuid-int": _set("uuid", 12),
    "uuid-list": _set("uuid", ["a"]),
    "messages-string": _set("messages", "hello"),
    "messages-empty": _set("messages", []),
    "messages-null": _set("messages", None),
    "message-int": _set("messages.0", 7),
    "role-int": _set("messages.0.role", 3),
    "role-unknown": _set("messages.0.role", "robot"),
    "content-dict": _set("messages.1.content", {"a": 1}),
    "tool-calls-string": _set("messages.1.tool_calls", "call it"),
    "tools-string": _set("tools", "not tools"),
    "tools-int-list": _set("tools", [1, 2]),
    "checklists-string": _set("checklists", "all fine"),
    "checklists-dict": _set("checklists", {"a": 1}),
    "item-not-object": _set("checklists.0.0.0", "C1"),
    "weight-string": _set("checklists.0.0.0.weight", "heavy"),
    "weight-negative": _set("checklists.0.0.0.weight", -0.5),
    "weights-sum-5.4": _weights_5_4,
    "focus-unknown": _set("checklists.0.0.0.focus_on", "vibes"),
    "question-missing": _set("checklists.0.0.0.question", None),
    "evidence-turn-past-end": _set("checklists.0.0.0.evidence", [{"turn": 99, "step": 0}]),
    "evidence-step-past-end": _set("checklists.0.0.0.evidence", [{"turn": 0, "step": 999}]),
    "evidence-negative": _set("checklists.0.0.0.evidence", [{"turn": -1, "step": 0}]),
    "dependence-unknown": _set("checklists.0.0.1.dependence", ["NOPE"]),
    "dependence-self": lambda r: _set("checklists.0.0.1.dependence", [_items(r)[1]["id"]])(r),
    "dependence-cycle": _cycle,
    "empty-extra-turns": _empty_extra_turns,
    "duplicate-item-ids": _duplicate_item_ids,
    "deep-arguments": _deep_arguments,
}
"""Records that parse as JSON but are wrong in one field."""

LINE_MUTATIONS: dict[str, Callable[[Record], str]] = {
    "surrogate": _surrogate,
    "deep-field": _deep_field,
    "nan": _nan,
    "infinity": _infinity,
    "truncated": lambda r: json.dumps(r)[: len(json.dumps(r)) // 2],
}
"""Records that are broken as text."""

GARBAGE_LINES: dict[str, str] = {
    "deep-array": "[" * 3000 + "]" * 3000,
    "deep-object": '{"a":' * 3000 + "1" + "}" * 3000,
    "deep-unclosed": "[" * 100_000,
    "array-line": "[1, 2, 3]",
    "string-line": '"just a string"',
    "number-line": "42",
    "null-line": "null",
    "empty-object": "{}",
    "not-json": "hello world",
    "python-repr": "{'uuid': 'x'}",
}
"""Lines that are no record at all."""


def _jsonl(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _file_cases(root: Path, good: str) -> list[Case]:
    rng = random.Random(16)
    garbage = bytes(rng.randrange(256) for _ in range(4096))
    whole = gzip.compress(_jsonl([good] * 20))
    cases = [
        Case("empty", _write(root / "empty.jsonl", b""), True),
        Case("blank-lines", _write(root / "blank.jsonl", b"\n \n\t\n"), True),
        Case("binary", _write(root / "binary.jsonl", garbage), True),
        Case("nul-bytes", _write(root / "nul.jsonl", b"\x00" * 1000), True),
        Case("bom-garbage", _write(root / "bom-garbage.jsonl", b"\xef\xbb\xbfnope\n"), True),
        Case("latin1", _write(root / "latin1.jsonl", '{"uuid": "caf\xe9"}\n'.encode("latin-1")), True),
        Case("gzip-garbage", _write(root / "garbage.jsonl.gz", garbage), True),
        Case("gzip-truncated", _write(root / "truncated.jsonl.gz", whole[: len(whole) // 2]), True),
        Case("parquet-garbage", _write(root / "garbage.parquet", garbage), True),
        Case("parquet-empty", _write(root / "empty.parquet", b""), True),
        Case("parquet-text", _write(root / "text.parquet", _jsonl([good])), True),
        Case("json-garbage", _write(root / "garbage.json", b"[{]"), True),
        Case("json-empty-array", _write(root / "empty-array.json", b"[]"), True),
        Case("json-empty", _write(root / "empty.json", b""), True),
        Case("json-deep", _write(root / "deep.json", ("[" * 5000 + "]" * 5000).encode()), True),
        Case("json-deep-item", _write(root / "deep-item.json", ("[" + "[" * 5000 + "]" * 5000 + "]").encode()), True),
        Case("json-scalars", _write(root / "scalars.json", b"[1, 2, 3]"), True),
    ]
    empty_dir = root / "empty-dir"
    empty_dir.mkdir()
    text_dir = root / "text-dir"
    _write(text_dir / "notes.txt", b"nothing to see")
    parquet_dir = root / "parquet-dir"
    _write(parquet_dir / "part-0.parquet", garbage)
    jsonl_dir = root / "dir.jsonl"
    jsonl_dir.mkdir()
    cases += [
        Case("dir-empty", empty_dir, True),
        Case("dir-text", text_dir, True),
        Case("dir-bad-parquet", parquet_dir, True),
        Case("dir-named-jsonl", jsonl_dir, True),
    ]
    return cases


def build_corpus(root: Path, *, mixed: bool = True) -> list[Case]:
    """Write every case under `root`; `mixed` adds, for each bad record, a file with a good one beside it."""
    record = base_record()
    good = json.dumps(record, ensure_ascii=False)
    cases = _file_cases(root / "files", good)
    bad_lines: dict[str, str] = dict(GARBAGE_LINES)
    for name, mutation in RECORD_MUTATIONS.items():
        bad_lines[name] = json.dumps(mutation(copy.deepcopy(record)), ensure_ascii=False)
    for name, broken in LINE_MUTATIONS.items():
        bad_lines[name] = broken(copy.deepcopy(record))
    for name, line in bad_lines.items():
        cases.append(Case(name, _write(root / "bad" / f"{name}.jsonl", _jsonl([line])), True))
        if mixed:
            other = {**record, "uuid": "good-" + record["uuid"]}
            lines = [line, json.dumps(other, ensure_ascii=False)]
            cases.append(Case(f"mixed-{name}", _write(root / "mixed" / f"{name}.jsonl", _jsonl(lines)), False))
    # well-formed but unusual: must be read
    crlf = _jsonl([good]).replace(b"\n", b"\r\n")
    cases += [
        Case("ok-bom", _write(root / "ok" / "bom.jsonl", b"\xef\xbb\xbf" + _jsonl([good])), False),
        Case("ok-crlf", _write(root / "ok" / "crlf.jsonl", crlf), False),
        Case("ok-duplicate-ids", _write(root / "ok" / "duplicates.jsonl", _jsonl([good, good])), False),
        Case("ok-huge-line", _write(root / "ok" / "huge.jsonl", _jsonl([_huge(record)])), False),
    ]
    return cases


def _huge(record: Record) -> str:
    big = copy.deepcopy(record)
    big["messages"][-1]["content"] += " filler" * 400_000
    return json.dumps(big, ensure_ascii=False)


def trajectory_lines(record: Record) -> list[str]:
    """Two rollouts replaying the reference of `record` (for `cm2 judge` and `cm2 view`)."""
    return [
        json.dumps({"dialogue_uuid": record["uuid"], "group": "g", "rollout": i, "messages": record["messages"]})
        for i in range(2)
    ]
