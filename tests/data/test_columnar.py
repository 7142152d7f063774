"""The Arrow layout that makes Parquet and HF datasets lossless, checked on arbitrary records."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from cm2.data.columnar import Layout, layout_from_schema

_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=5)
_floats = st.floats(allow_nan=False, allow_infinity=False)
_values = st.recursive(
    _scalars | _floats,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
_keys = st.sampled_from(["uuid", "a", "b", "messages", "__cm2_extra__"])
_records = st.lists(st.dictionaries(_keys, _values), max_size=8)


@settings(max_examples=150, deadline=None)
@given(_records, st.integers(1, 4))
def test_any_records_round_trip(records: list[dict[str, Any]], first: int) -> None:
    layout = Layout.plan(records[:first])
    batch = layout.encode(records)
    table = pa.Table.from_batches([batch])
    restored = layout_from_schema(table.schema)
    assert restored == layout
    assert list(restored.decode(table.to_pylist())) == records


def test_plain_columns_stay_native() -> None:
    records = [{"uuid": "a", "n": 1, "x": 0.5, "ok": True, "messages": []}]
    schema = Layout.plan(records).arrow_schema()
    assert schema.field("uuid").type == pa.string() and schema.field("n").type == pa.int64()
    assert schema.field("x").type == pa.float64() and schema.field("ok").type == pa.bool_()
    layout = layout_from_schema(schema)
    assert layout is not None and layout.columns["messages"] == "json"
