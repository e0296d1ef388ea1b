"""Small readers shared by the loaders of native dataset layouts.

Each raises `NeuronbenchError` naming the file, the field and what was expected, so a
missing or malformed file in a user's download is reported, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from neuronbench.errors import NeuronbenchError


def load_npy(path: Path) -> np.ndarray:
    """A ``.npy`` array (no pickles)."""
    path = Path(path)
    if not path.is_file():
        raise NeuronbenchError(f"{path}: missing (expected in {path.parent})")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise NeuronbenchError(f"{path}: unreadable .npy array ({e})") from None


def vector(path: Path, n: int | None = None, *, field: str = "rows") -> np.ndarray:
    """A 1-d array from a file holding shape (N,) or a column vector (N, 1); with ``n``,
    its length must be ``n``."""
    a = load_npy(path)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise NeuronbenchError(f"{path}: field 'shape': expected (N,) or (N, 1), got {a.shape}")
    if n is not None and len(a) != n:
        raise NeuronbenchError(f"{path}: field {field!r}: expected {n} entries, got {len(a)}")
    return a


def integers(path: Path, values: np.ndarray) -> np.ndarray:
    """``values`` as int64, refusing non-integral or non-finite entries of ``path``."""
    v = np.asarray(values)
    if v.dtype.kind in "iu":
        return v.astype(np.int64)
    if not np.all(np.isfinite(v)) or not np.all(v == np.round(v)):
        raise NeuronbenchError(f"{path}: field 'values': expected integers, found non-integral or NaN entries")
    return v.astype(np.int64)


def spikes_csr(times: np.ndarray, unit_index: np.ndarray, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike times grouped by unit (CSR): ``unit_index`` in ``0..n_units-1``; each unit's
    spikes sorted by time. Returns (spike_times float64, offsets int64)."""
    order = np.lexsort((times, unit_index))
    counts = np.bincount(unit_index, minlength=n_units)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return np.asarray(times, dtype=np.float64)[order], offsets


def merge_runs(start: np.ndarray, stop: np.ndarray, name: np.ndarray) -> pd.DataFrame:
    """Epochs from intervals: sorted by start, consecutive intervals of the same name
    merged into one block (start of the first, stop of the last)."""
    if len(start) == 0:
        return pd.DataFrame({"start": [], "stop": [], "stimulus": []})
    order = np.argsort(start, kind="stable")
    start, stop, name = np.asarray(start)[order], np.asarray(stop)[order], np.asarray(name, dtype=object)[order]
    first = np.flatnonzero(np.r_[True, name[1:] != name[:-1]])
    stops = np.maximum.reduceat(stop, first)
    return pd.DataFrame(
        {"start": start[first].astype(float), "stop": stops.astype(float), "stimulus": name[first].astype(str)}
    )


def clip_epochs(epochs: pd.DataFrame, t_start: float, t_stop: float) -> pd.DataFrame:
    """Epochs clipped to [t_start, t_stop]; those left empty are dropped."""
    e = epochs.assign(start=epochs["start"].clip(t_start, t_stop), stop=epochs["stop"].clip(t_start, t_stop))
    e = e[e["stop"] > e["start"]]
    return e.sort_values("start", kind="stable").reset_index(drop=True)
