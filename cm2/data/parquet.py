"""Parquet files, read batch by batch and written batch by batch (see `columnar` for the layout).

A directory of `*.parquet` files (as on dataset hubs) is read file by file, in name order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from cm2.data.atomic import atomic_file
from cm2.data.columnar import Layout, decode_raw, layout_from_schema
from cm2.data.errors import UnreadableFileError
from cm2.data.raw import RawRecord

BATCH_SIZE = 1024


def parquet_files(path: str | os.PathLike[str]) -> list[Path]:
    source = Path(path)
    return sorted(source.rglob("*.parquet")) if source.is_dir() else [source]


def _iter_file(file: Path, batch_size: int) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(file)
    layout = layout_from_schema(parquet.schema_arrow)
    row = 0
    # One row group at a time: asked for all of them at once, Arrow reads ahead and memory grows
    # with the file.
    for group in range(parquet.num_row_groups):
        for batch in parquet.iter_batches(batch_size=batch_size, row_groups=[group]):
            yield from decode_raw(batch.to_pylist(), layout, str(file), row)
            row += batch.num_rows


def iter_parquet(path: str | os.PathLike[str], *, batch_size: int = BATCH_SIZE) -> Iterator[RawRecord]:
    """Stream the records of a Parquet file (or a directory of them); memory is bounded by one row group.

    A file that is not Parquet, or breaks off, raises `UnreadableFileError` naming it.
    """
    import pyarrow as pa

    for file in parquet_files(path):
        read = 0
        try:
            for raw in _iter_file(file, batch_size):
                read += 1
                yield raw
        except (pa.ArrowException, OSError, ValueError) as exc:
            where = f"{file}#row {read}" if read else str(file)
            raise UnreadableFileError(where, f"unreadable Parquet file ({type(exc).__name__}: {exc})") from None


def count_parquet(path: str | os.PathLike[str]) -> int | None:
    """Number of rows, from the file footers (None when a footer cannot be read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return sum(pq.ParquetFile(file).metadata.num_rows for file in parquet_files(path))
    except (pa.ArrowException, OSError, ValueError):
        return None


def batched(records: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def write_parquet(
    path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]], *, batch_size: int = BATCH_SIZE
) -> int:
    """Write records atomically to one Parquet file, one row group per batch; returns the count.

    The column layout is chosen from the first batch; later records that do not fit it still
    round-trip through the extra column.
    """
    import pyarrow.parquet as pq

    count = 0
    with atomic_file(path) as tmp:
        writer: pq.ParquetWriter | None = None
        try:
            for batch in batched(records, batch_size):
                if writer is None:
                    layout = Layout.plan(batch)
                    writer = pq.ParquetWriter(tmp, layout.arrow_schema(), compression="zstd")
                writer.write_batch(layout.encode(batch))
                count += len(batch)
            if writer is None:
                layout = Layout()
                writer = pq.ParquetWriter(tmp, layout.arrow_schema(), compression="zstd")
        finally:
            if writer is not None:
                writer.close()
    return count
