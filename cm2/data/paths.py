"""Checking a job's input and output paths before any work: an output must not be (or hold) an input."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class InputError(ValueError):
    """Input or output paths (or input) that cannot work as given: a command line exits 2."""


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        try:
            return os.path.samefile(a, b)
        except OSError:
            return False
    return os.path.realpath(a) == os.path.realpath(b)


def check_paths(
    inputs: Iterable[Path | None], files: Iterable[Path | None] = (), dirs: Iterable[Path | None] = ()
) -> None:
    """Refuse output `files` and `dirs` that are (or hold) an input, a file where a folder is wanted, or a
    folder where a file is wanted; raise `InputError` before anything is read or written."""
    sources = [Path(p) for p in inputs if p is not None]
    outputs = [(Path(p), False) for p in files if p is not None] + [(Path(p), True) for p in dirs if p is not None]
    for out, is_dir in outputs:
        for source in sources:
            if _same(out, source):
                raise InputError(f"{out}: the output is the input {source}; name another output")
            if is_dir and os.path.realpath(source).startswith(os.path.realpath(out) + os.sep):
                raise InputError(f"{out}: the output folder holds the input {source}; name another folder")
        if is_dir and out.exists() and not out.is_dir():
            raise InputError(f"{out}: exists and is not a directory")
        if not is_dir and out.is_dir():
            raise InputError(f"{out}: is a directory; name a file")
    names = [os.path.realpath(p) for p, _ in outputs]
    for name in names:
        if names.count(name) > 1:
            raise InputError(f"{name}: named as two different outputs")
