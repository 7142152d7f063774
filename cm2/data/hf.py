"""Hugging Face datasets saved with `save_to_disk` (a directory), read through `datasets` itself.

Reading goes through the memory-mapped Arrow files batch by batch, so memory stays bounded. Writing
streams batches into an Arrow file with the `columnar` layout, then lets `datasets` save it; the
layout goes into `cm2_layout.json` beside the data because `datasets` drops schema metadata.
A `DatasetDict` directory is read split by split.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cm2.data.atomic import atomic_dir
from cm2.data.columnar import Layout, decode_raw
from cm2.data.errors import UnreadableFileError
from cm2.data.parquet import BATCH_SIZE, batched
from cm2.data.raw import RawRecord

if TYPE_CHECKING:
    import datasets

LAYOUT_FILE = "cm2_layout.json"


def is_hf_dir(path: str | os.PathLike[str]) -> bool:
    """True for a directory written by `save_to_disk` (a Dataset or a DatasetDict)."""
    source = Path(path)
    return source.is_dir() and any(
        (source / name).is_file() for name in ("state.json", "dataset_info.json", "dataset_dict.json")
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the progress bars of `datasets` (callers show their own)."""
    from datasets.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _splits(source: Path) -> list[tuple[str | None, Path]]:
    """(split name, directory) pairs: the splits of a DatasetDict in order, or the dataset itself."""
    index = source / "dataset_dict.json"
    if index.is_file():
        names = json.loads(index.read_text(encoding="utf-8"))["splits"]
        return [(name, source / name) for name in names]
    return [(None, source)]


def _load(directory: Path) -> datasets.Dataset | None:
    """The saved dataset, or None when it has no rows (`datasets` saves those without data files
    and then cannot load them)."""
    import datasets

    state = directory / "state.json"
    if state.is_file() and not json.loads(state.read_text(encoding="utf-8")).get("_data_files"):
        return None
    with _quiet():
        loaded = datasets.load_from_disk(str(directory))
    if not isinstance(loaded, datasets.Dataset):
        raise ValueError(f"{directory}: expected one dataset, found {type(loaded).__name__}")
    return loaded


def _layout(directory: Path) -> Layout | None:
    file = directory / LAYOUT_FILE
    return Layout.model_validate_json(file.read_text(encoding="utf-8")) if file.is_file() else None


def _iter_split(source: Path, split: str | None, directory: Path, batch_size: int) -> Iterator[RawRecord]:
    dataset = _load(directory)
    if dataset is None:
        return
    layout = _layout(directory)
    prefix = f"{source}[{split}]" if split is not None else str(source)
    row = 0
    for table in dataset.with_format("arrow").iter(batch_size=batch_size):
        yield from decode_raw(table.to_pylist(), layout, prefix, row)
        row += table.num_rows


_UNREADABLE = (OSError, ValueError, KeyError, TypeError)


def iter_hf(path: str | os.PathLike[str], *, batch_size: int = BATCH_SIZE) -> Iterator[RawRecord]:
    """Stream the records of a saved dataset (every split of a DatasetDict, in order).

    A directory `datasets` cannot load raises `UnreadableFileError` naming it.
    """
    import pyarrow as pa

    source = Path(path)
    try:
        for split, directory in _splits(source):
            yield from _iter_split(source, split, directory, batch_size)
    except (*_UNREADABLE, pa.ArrowException) as exc:
        raise UnreadableFileError(str(source), f"unreadable dataset ({type(exc).__name__}: {exc})") from None


def count_hf(path: str | os.PathLike[str]) -> int | None:
    """Number of rows (None when the directory cannot be loaded)."""
    import pyarrow as pa

    try:
        loaded = [_load(directory) for _, directory in _splits(Path(path))]
    except (*_UNREADABLE, pa.ArrowException):
        return None
    return sum(dataset.num_rows for dataset in loaded if dataset is not None)


def write_hf(
    path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]], *, batch_size: int = BATCH_SIZE
) -> int:
    """Save records as a Hugging Face dataset directory, atomically; returns the count."""
    import datasets
    import pyarrow as pa

    count = 0
    layout = Layout()
    with atomic_dir(path) as tmp:
        staging = tmp / "staging"
        staging.mkdir()
        arrow_file = staging / "data.arrow"
        writer: pa.RecordBatchStreamWriter | None = None
        with pa.OSFile(str(arrow_file), "wb") as sink:
            try:
                for batch in batched(records, batch_size):
                    if writer is None:
                        layout = Layout.plan(batch)
                        writer = pa.ipc.new_stream(sink, layout.arrow_schema())
                    writer.write_batch(layout.encode(batch))
                    count += len(batch)
                if writer is None:  # no records: one empty batch, which `datasets` needs to open the file
                    writer = pa.ipc.new_stream(sink, layout.arrow_schema())
                    writer.write_batch(layout.encode([]))
            finally:
                if writer is not None:
                    writer.close()
        with _quiet():
            dataset = datasets.Dataset.from_file(str(arrow_file))
            dataset.save_to_disk(str(tmp))
        del dataset
        (tmp / LAYOUT_FILE).write_text(layout.model_dump_json(), encoding="utf-8")
        arrow_file.unlink()
        staging.rmdir()
    return count
