"""Atomic file writes: readers see the old file or the new one, never a partial one.

The content is written to a temporary file in the same folder, flushed to disk, given
the permissions a plain ``open`` would give (mkstemp makes files private), and renamed
over the target. Result records, split files, cached embeddings and leaderboards all
go through `atomic_write`. A full disk, a read-only file system or a folder without
write permission is a `NeuronbenchError` naming the file (the target is untouched and
the temporary file removed); `check_writable` finds such a folder before any work.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from neuronbench.errors import NeuronbenchError

UNWRITABLE: frozenset[int] = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
"""The errors of a folder that cannot take a file (the user's to fix, not a bug)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(file)`` on a temporary binary file, then rename it to ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _unwritable(e, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _unwritable(e, path) from None
        raise


def _unwritable(e: OSError, path: Path) -> Exception:
    """``e`` as the `NeuronbenchError` naming ``path`` if the folder cannot take the file
    (`UNWRITABLE`); any other error as it is."""
    if e.errno not in UNWRITABLE:
        return e
    return NeuronbenchError(f"{path}: cannot write ({os.strerror(e.errno)}); nothing was written to it")


def check_writable(folder: Path, what: str = "folder") -> None:
    """Create ``folder`` if missing and write and remove a small file in it: a
    `NeuronbenchError` naming it (``what``: what it is for) if it cannot take files."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".neuronbench-write-check.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(b"neuronbench")
                f.flush()
                os.fsync(f.fileno())
        finally:
            Path(probe).unlink(missing_ok=True)
    except OSError as e:  # any: read-only, full, forbidden, a file in the way, a path that cannot exist
        raise NeuronbenchError(f"{folder}: the {what} cannot be written ({e.strerror or e})") from None


def atomic_write_text(path: Path, text: str) -> None:
    """`atomic_write` of UTF-8 text."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
