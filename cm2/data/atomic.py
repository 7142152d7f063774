"""Atomic writes: build the output beside its destination, then rename it into place."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


@functools.cache
def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _mode(target: Path, default: int) -> int:
    """Keep the mode of the file being replaced; a new one gets the default less the umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return default & ~_umask()


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in `directory` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the destination's directory; on success it replaces `path`.

    On an exception the temporary file is removed and `path` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, _mode(target, 0o666))
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; on success it takes the place of `path`.

    An existing `path` is moved aside first, put back if the swap fails, and deleted once the new
    one is in place.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(tmp, _mode(target, 0o777))
        yield tmp
        swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def swap_in(new: Path, target: Path) -> None:
    """Put the directory `new` in the place of `target` by renames (the old one, if any, is deleted after)."""
    if not target.exists():
        os.replace(new, target)
        fsync_dir(target.parent)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    previous = aside / "previous"
    os.replace(target, previous)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(previous, target)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    fsync_dir(target.parent)
    shutil.rmtree(aside, ignore_errors=True)
