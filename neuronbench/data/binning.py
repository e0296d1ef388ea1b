"""Binned activity: the common input of the learned methods.

`bin_spikes` counts each unit's spikes in regular bins (vectorised over all spikes of a
recording at once; `bin_count` is their number); `activity` returns a recording's
activity on a regular time grid whatever its modality (spike counts, or the calcium
trace as recorded), `activity_shape` its shape without computing it; `zscore`
standardises activity along an axis; `percentile_scaled` divides calcium activity by a
percentile of the recording; `behaviour_on_grid` resamples behaviour on a grid;
`scratch_array` is a buffer backed by a temporary file, for the activity of many
recordings filled one recording at a time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from neuronbench.data.recording import Recording
from neuronbench.errors import NeuronbenchError


def bin_spikes(rec: Recording, bin_s: float, t_start: float | None = None, t_stop: float | None = None) -> np.ndarray:
    """Spike counts, shape (units, bins), float32; bins of ``bin_s`` seconds from
    ``t_start`` (default: the recording's start) covering up to ``t_stop``; a partial
    last bin is dropped."""
    if rec.spike_times is None or rec.spike_offsets is None:
        raise NeuronbenchError(f"recording {rec.recording!r} has no spikes ({rec.modality})")
    t0 = rec.t_start if t_start is None else t_start
    t1 = rec.t_stop if t_stop is None else t_stop
    n_bins = bin_count(t0, t1, bin_s)
    counts = np.zeros((rec.n_units, max(n_bins, 0)), dtype=np.float32)
    if n_bins <= 0:
        return counts
    times = np.asarray(rec.spike_times)
    unit = np.repeat(np.arange(rec.n_units), np.diff(np.asarray(rec.spike_offsets)))
    b = np.floor((times - t0) / bin_s).astype(np.int64)
    keep = (b >= 0) & (b < n_bins)
    np.add.at(counts, (unit[keep], b[keep]), 1.0)
    return counts


def bin_count(t_start: float, t_stop: float, bin_s: float) -> int:
    """The number of whole bins of ``bin_s`` seconds in [t_start, t_stop] (`bin_spikes`)."""
    return int(np.floor((t_stop - t_start) / bin_s + 1e-9))


def scratch_array(n: int, dtype: DTypeLike) -> np.ndarray:
    """A writable 1-d array of ``n`` zeros memory-mapped from an unlinked temporary file
    (in ``$TMPDIR``; gone with the array). Its pages are file pages the kernel writes out
    and drops under memory pressure, so a buffer holding the activity of a whole dataset
    costs page cache, not anonymous memory, and a dataset larger than the memory is
    slower, not fatal."""
    dtype = np.dtype(dtype)
    if n <= 0:
        return np.zeros(0, dtype=dtype)
    with tempfile.TemporaryFile(prefix="neuronbench-scratch-") as f:
        return np.memmap(f, dtype=dtype, mode="w+", shape=(int(n),))


def activity(rec: Recording, bin_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(activity of shape (units, steps), step start times). Spikes are binned at
    ``bin_s`` (required); calcium is returned at its frame rate (``bin_s`` ignored)."""
    if rec.modality == "calcium":
        return np.asarray(rec.traces, dtype=np.float32).T, np.asarray(rec.frame_times, dtype=np.float64)
    if bin_s is None:
        raise NeuronbenchError("bin_s is required to bin spikes")
    counts = bin_spikes(rec, bin_s)
    return counts, rec.t_start + bin_s * np.arange(counts.shape[1])


def activity_shape(rec: Recording, bin_s: float | None = None) -> tuple[int, int]:
    """The (units, steps) shape of `activity` (spikes binned at ``bin_s``), without
    computing it."""
    if rec.modality == "calcium":
        return rec.n_units, len(rec.frame_times)
    if bin_s is None:
        raise NeuronbenchError("bin_s is required to bin spikes")
    return rec.n_units, max(bin_count(rec.t_start, rec.t_stop, bin_s), 0)


def zscore(a: np.ndarray, axis: int) -> np.ndarray:
    """(a - mean) / std along ``axis`` (ddof 0), in float64; 0 where the std is 0."""
    a = np.asarray(a, dtype=np.float64)
    mu = a.mean(axis=axis, keepdims=True)
    sd = a.std(axis=axis, keepdims=True)
    return np.divide(a - mu, sd, out=np.zeros_like(a), where=sd > 0)


def percentile_scaled(x: np.ndarray, percentile: float) -> np.ndarray:
    """``x`` (float32) divided by its ``percentile`` over all values (NuCLR's and our
    NeurPIR's calcium scale: dF/F over the recording's 99th percentile); a non-positive or
    non-finite percentile (a silent recording) leaves it as it is."""
    x = np.asarray(x, dtype=np.float32)
    scale = float(np.percentile(x, percentile)) if x.size else 0.0
    return x / scale if scale > 0 and np.isfinite(scale) else x


def behaviour_on_grid(rec: Recording, times: np.ndarray, columns: Sequence[str]) -> np.ndarray:
    """Behaviour ``columns`` at ``times``, (steps, len(columns)) float32, each
    z-scored; NaN gaps are interpolated linearly. A column the recording lacks (or
    that is all NaN) is 0, the z-scored mean."""
    out = np.zeros((len(times), len(columns)), dtype=np.float32)
    beh = rec.behaviour
    if beh is None or not len(columns):
        return out
    t = beh["time"].to_numpy(dtype=np.float64)
    for j, col in enumerate(columns):
        if col not in beh.columns:
            continue
        v = beh[col].to_numpy(dtype=np.float64)
        ok = np.isfinite(v) & np.isfinite(t)
        if ok.any():
            out[:, j] = zscore(np.interp(times, t[ok], v[ok]), axis=0)
    return out
