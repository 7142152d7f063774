"""Dataset rows for VeRL: one row per (dialogue, checklist), read by `RLHFDataset` and handed to `cm2_agent`.

Each row holds what VeRL expects (`prompt`, `data_source`, `agent_name`, `reward_model`) and, in
`extra_info`, the whole reference dialogue as JSON text (`cm2_dialogue`): the agent loop replays its
user turns, answers tools from its recorded calls and judges against its checklist, on whichever
node the rollout runs, without a shared file system.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cm2.reward import checklist_specs
from cm2.rollout.transcript import TokenTranscript, call_names, template_message
from cm2.schema import Dialogue, Message

ROWS_MARKER = b"cm2_verl_rows"
"""Parquet schema metadata key that marks a file written by `write_rows`."""


@dataclass
class RowReport:
    """What a conversion did; `skipped` maps a reason to the dialogue ids it applied to."""

    dialogues: int = 0
    rows: int = 0
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, uuid: str) -> None:
        self.skipped.setdefault(reason, []).append(uuid)

    def summary(self) -> dict[str, Any]:
        return {
            "dialogues": self.dialogues,
            "rows": self.rows,
            "skipped": {reason: len(ids) for reason, ids in self.skipped.items()},
        }


def first_prompt(dialogue: Dialogue) -> list[Message]:
    """The messages before the first assistant step: the system message, if any, a per-turn task's reference
    history (`context`), and the first user turn."""
    turns = dialogue.turns()
    if not turns:
        raise ValueError(f"dialogue {dialogue.uuid}: no user message")
    return [*([dialogue.system] if dialogue.system else []), *dialogue.context, turns[0].user]


def prompt_tokens(dialogue: Dialogue, tokenizer: Any) -> int:
    """Tokens of the first prompt as the agent loop renders it (chat template with the dialogue's tools)."""
    return len(TokenTranscript(tokenizer, dialogue.tools, first_prompt(dialogue)).prompt_ids)


def verl_rows(
    dialogues: Iterable[Dialogue],
    *,
    agent_name: str = "cm2_agent",
    data_source: str = "cm2",
    tokenizer: Any = None,
    max_prompt_length: int | None = None,
    report: RowReport | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows for every checklist of every dialogue that has one.

    Dialogues without a checklist or without a user turn are skipped (and counted in `report`); with a
    tokenizer and `max_prompt_length`, so are those whose first prompt would not fit VeRL's prompt
    buffer. An invalid checklist is an error naming the dialogue, checklist and turn.
    """
    report = report if report is not None else RowReport()
    for dialogue in dialogues:
        report.dialogues += 1
        if not dialogue.checklists:
            report.skip("no checklist", dialogue.uuid)
            continue
        if not dialogue.turns():
            report.skip("no user turn", dialogue.uuid)
            continue
        for k, checklist in enumerate(dialogue.checklists):
            try:
                checklist_specs(checklist)
            except ValueError as exc:
                raise ValueError(f"dialogue {dialogue.uuid}, checklist {k}: {exc}") from exc
        too_long = (
            tokenizer is not None
            and max_prompt_length is not None
            and prompt_tokens(dialogue, tokenizer) > max_prompt_length
        )
        if too_long:
            report.skip(f"first prompt over {max_prompt_length} tokens", dialogue.uuid)
            continue
        messages = first_prompt(dialogue)
        names = call_names(messages)
        prompt = [template_message(m, names) for m in messages]
        text = json.dumps(dialogue.dump(), ensure_ascii=False)
        for k in range(len(dialogue.checklists)):
            yield {
                "data_source": data_source,
                "agent_name": agent_name,
                "prompt": prompt,
                "reward_model": {"style": "cm2_checklist", "ground_truth": ""},
                "extra_info": {
                    "index": report.rows,
                    "cm2_uuid": dialogue.uuid,
                    "cm2_checklist": k,
                    "cm2_dialogue": text,
                },
            }
            report.rows += 1


def arrow_schema() -> Any:
    """The Parquet schema of the rows (fixed, so every batch and file agrees)."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("data_source", pa.string()),
            pa.field("agent_name", pa.string()),
            pa.field("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            pa.field("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            pa.field(
                "extra_info",
                pa.struct(
                    [
                        ("index", pa.int64()),
                        ("cm2_uuid", pa.string()),
                        ("cm2_checklist", pa.int64()),
                        ("cm2_dialogue", pa.string()),
                    ]
                ),
            ),
        ],
        metadata={ROWS_MARKER: b"1"},
    )


def write_rows(path: str, rows: Iterable[dict[str, Any]], *, batch_size: int = 256) -> int:
    """Write rows to one Parquet file atomically (nothing is left behind on error); returns the count."""
    from itertools import islice

    import pyarrow as pa
    import pyarrow.parquet as pq

    from cm2.data.atomic import atomic_file

    schema = arrow_schema()
    count = 0
    iterator = iter(rows)
    with atomic_file(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        while batch := list(islice(iterator, batch_size)):
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count


def is_rows_file(path: str) -> bool:
    """Whether `path` is a Parquet file written by `write_rows`."""
    if not str(path).endswith(".parquet"):
        return False
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    return ROWS_MARKER in metadata
