"""Records ↔ Arrow columns, losslessly, for Parquet files and Hugging Face datasets.

Arrow needs one type per column; dialogue records do not have one (`arguments` is a string in one
call and an object in the next; a key may be missing in one record and null in another). So the
layout is chosen from the first batch of records:

- a top-level key whose values are all `str` (or all `int`, `float` or `bool`) gets a native column,
  where null means "key absent";
- every other key (lists, objects, mixed types, explicit nulls) gets a string column holding the
  value as JSON text, where null means "absent" and the text `null` means an explicit null;
- a later record whose value does not fit its column, or that has a key the layout does not know,
  keeps that value in the `__cm2_extra__` column, a JSON object merged back on read.

The layout is stored as JSON under the schema metadata key `cm2.layout` (or, for Hugging Face
datasets, which drop schema metadata, in a `cm2_layout.json` file beside the data). A file written
by another tool has no layout and is read as Arrow gives it, nested columns included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from cm2.data.raw import RawRecord
from cm2.schema.jsontext import loads

if TYPE_CHECKING:
    import pyarrow as pa

LAYOUT_KEY = b"cm2.layout"
EXTRA_COLUMN = "__cm2_extra__"
_INT64 = (-(2**63), 2**63 - 1)
_NATIVE = {str: "string", int: "int64", float: "float64", bool: "bool"}


class Layout(BaseModel):
    """How records map to columns: column name → "json" or a native Arrow type name."""

    columns: dict[str, str] = Field(default_factory=dict)
    extra: str = EXTRA_COLUMN

    @classmethod
    def plan(cls, records: Sequence[Mapping[str, Any]]) -> Layout:
        kinds: dict[str, set[type]] = {}
        for record in records:
            for key, value in record.items():
                kinds.setdefault(key, set()).add(type(value))
        columns: dict[str, str] = {}
        for key, types in kinds.items():
            if key == EXTRA_COLUMN:
                continue
            only = next(iter(types)) if len(types) == 1 else None
            columns[key] = _NATIVE.get(only, "json") if only is not None else "json"
            if columns[key] == "int64" and not all(_fits_int64(r[key]) for r in records if key in r):
                columns[key] = "json"
        return cls(columns=columns)

    def arrow_schema(self) -> pa.Schema:
        import pyarrow as pa

        types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
        fields = [pa.field(name, types.get(kind, pa.string())) for name, kind in self.columns.items()]
        fields.append(pa.field(self.extra, pa.string()))
        return pa.schema(fields, metadata={LAYOUT_KEY: self.model_dump_json().encode()})

    def encode(self, records: Sequence[Mapping[str, Any]]) -> pa.RecordBatch:
        """One Arrow batch holding `records`."""
        import pyarrow as pa

        columns: dict[str, list[Any]] = {name: [] for name in self.columns}
        extras: list[str | None] = []
        for record in records:
            extra: dict[str, Any] = {}
            for name, kind in self.columns.items():
                if name not in record:
                    columns[name].append(None)
                    continue
                value = record[name]
                if kind == "json":
                    columns[name].append(json.dumps(value, ensure_ascii=False))
                elif _fits(kind, value):
                    columns[name].append(value)
                else:
                    columns[name].append(None)
                    extra[name] = value
            for key, value in record.items():
                if key not in self.columns:
                    extra[key] = value
            extras.append(json.dumps(extra, ensure_ascii=False) if extra else None)
        columns[self.extra] = extras
        return pa.RecordBatch.from_pydict(columns, schema=self.arrow_schema())

    def decode(self, rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The records of rows produced by `Table.to_pylist()` on an encoded table."""
        for row in rows:
            record: dict[str, Any] = {}
            for name, kind in self.columns.items():
                value = row.get(name)
                if value is not None:
                    record[name] = loads(value, allow_nan=True) if kind == "json" else value
            extra = row.get(self.extra)
            if extra:
                record.update(loads(extra, allow_nan=True))
            yield record


def _fits_int64(value: Any) -> bool:
    return _INT64[0] <= value <= _INT64[1]


def _fits(kind: str, value: Any) -> bool:
    expected = {"string": str, "int64": int, "float64": float, "bool": bool}[kind]
    return type(value) is expected and (kind != "int64" or _fits_int64(value))


def layout_from_schema(schema: pa.Schema) -> Layout | None:
    """The layout stored in a schema's metadata, or None for a file cm2 did not write."""
    raw = (schema.metadata or {}).get(LAYOUT_KEY)
    return Layout.model_validate_json(raw) if raw else None


def decode_rows(rows: list[dict[str, Any]], layout: Layout | None) -> Iterator[dict[str, Any]]:
    """Records of a batch: decoded through `layout`, or as Arrow gave them when there is none."""
    return layout.decode(rows) if layout is not None else iter(rows)


def decode_raw(rows: list[dict[str, Any]], layout: Layout | None, prefix: str, start: int) -> Iterator[RawRecord]:
    """`RawRecord`s of a batch (located `prefix#row N`, counting from `start`), row by row: a row whose JSON
    columns do not parse becomes a bad record."""
    for index, row in enumerate(rows):
        try:
            record = next(decode_rows([row], layout))
        except (ValueError, TypeError) as exc:
            yield RawRecord(f"{prefix}#row {start + index}", None, f"unreadable row ({exc})")
            continue
        yield RawRecord(f"{prefix}#row {start + index}", record)
