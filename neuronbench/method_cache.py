"""A folder where a method may keep arrays it computes from recordings, across the fits of
a grid: the runner sets it (``<results>/cache/<method>``) for each fit and embedding, a
method asks for an array with `cached_array`, which computes it once per key.

An array is a ``.npy`` file written atomically (`neuronbench.atomic`), read back
memory-mapped (page cache, not anonymous memory) and never with pickle. Outside the
runner (no folder set), `cached_array` just computes. The key must name everything the
array depends on: `content_key` hashes arrays and plain values for that.

The folder is a context variable, so it holds for the code the runner calls (in its
thread) and for nothing else.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from neuronbench.atomic import atomic_write

_FOLDER: contextvars.ContextVar[Path | None] = contextvars.ContextVar("neuronbench_method_cache", default=None)


@contextlib.contextmanager
def method_cache(folder: Path | None) -> Iterator[None]:
    """Within this block, `cached_array` keeps its arrays in ``folder`` (None: none)."""
    token = _FOLDER.set(None if folder is None else Path(folder))
    try:
        yield
    finally:
        _FOLDER.reset(token)


def content_key(*parts: Any) -> str:
    """A hex digest of ``parts``: arrays by dtype, shape and bytes, None as such, anything
    else by its JSON form (dicts with sorted keys)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            a = np.ascontiguousarray(part)
            h.update(f"array {a.dtype.str} {a.shape}\n".encode())
            h.update(memoryview(a).cast("B"))
        else:
            h.update(f"value {json.dumps(part, sort_keys=True)}\n".encode())
    return h.hexdigest()[:32]


def cached_array(kind: str, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()``, or the array it returned before for ``key`` (read-only, memory-mapped)
    when a cache folder is set; ``kind`` names the subfolder (e.g. ``histograms``)."""
    folder = _FOLDER.get()
    if folder is None:
        return compute()
    path = folder / kind / f"{key}.npy"
    if path.is_file():
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as e:
            print(f"neuronbench: warning: the cached array {path} is damaged ({e}); recomputing it", file=sys.stderr)
    array = np.ascontiguousarray(compute())
    atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))
    return array
