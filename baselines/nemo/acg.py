"""NEMO's activity modality: the 3D autocorrelogram (ACG), computed by our own vectorised code.

NEMO (Yu et al., ICLR 2025) describes each unit's firing by an ACG computed in 10
firing-rate deciles, 1 ms bins over 1 s, resampled on 100 log-scaled lags plus lag 0, x10:
a 10 x 101 image. The original obtains it from npyx at 0.3-0.4 s per unit of 10,000
spikes; this module computes it for every unit of a recording at once, with no loop over
units or spikes. The exact definition, step by step, and our deliberate deviations from
the npyx pipeline (true deciles, one estimator, continuous-time rates):
docs/methods.md ("The 3D autocorrelogram").
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

N_DECILES = 10
BIN_S = 0.001
N_LINEAR_LAGS = 1000  # 1 ms bins over (0, 1 s]
N_LOG_LAGS = 100
N_LAGS = N_LOG_LAGS + 1  # with the zero-lag column
RATE_WINDOW_S = 0.25
LOG_SMOOTH_SD = 1.0
ACG_SCALE = 10.0
PAIRS_PER_CHUNK = 2**20  # bounds the memory (and cache footprint) of the pair enumeration


@lru_cache(maxsize=1)
def log_lag_matrix() -> np.ndarray:
    """(100, 1000) linear map from the linear ACG at lags 1..1000 ms to the smoothed ACG at
    the log-spaced lags (interpolation, then Gaussian smoothing; step 4)."""
    pos = np.interp(np.logspace(0, 3, N_LOG_LAGS), np.arange(1, N_LINEAR_LAGS + 1), np.arange(N_LINEAR_LAGS))
    left = np.minimum(np.floor(pos).astype(np.int64), N_LINEAR_LAGS - 2)
    frac = pos - left
    interp = np.zeros((N_LOG_LAGS, N_LINEAR_LAGS))
    rows = np.arange(N_LOG_LAGS)
    interp[rows, left] = 1.0 - frac
    interp[rows, left + 1] += frac
    d = rows[:, None] - rows[None, :]
    smooth = np.exp(-0.5 * (d / LOG_SMOOTH_SD) ** 2) * (np.abs(d) <= 4 * LOG_SMOOTH_SD)
    smooth /= smooth.sum(axis=1, keepdims=True)
    out = smooth @ interp
    out.setflags(write=False)
    return out


@lru_cache(maxsize=1)
def _log_lag_taps() -> tuple[np.ndarray, np.ndarray]:
    """`log_lag_matrix` as (columns, weights) of its <= 18 non-zeros per row: applied by a
    gather, which avoids a multithreaded BLAS call for a tiny product."""
    mat = log_lag_matrix()
    width = int((mat > 0).sum(axis=1).max())
    cols = np.argsort(mat <= 0, axis=1, kind="stable")[:, :width]  # non-zero columns first
    weights = np.take_along_axis(mat, cols, axis=1)
    return cols, weights


def _units(spike_offsets: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(spike_offsets) - 1), np.diff(spike_offsets))


def spike_rates(spike_times: np.ndarray, spike_offsets: np.ndarray, window_s: float = RATE_WINDOW_S) -> np.ndarray:
    """Smoothed instantaneous rate (Hz) at every spike (step 1), for all units at once.

    ``spike_times`` is CSR by unit (``spike_offsets``) and sorted within each unit."""
    t = np.asarray(spike_times, dtype=np.float64)
    off = np.asarray(spike_offsets, dtype=np.int64)
    if len(t) == 0:
        return np.zeros(0)
    unit = _units(off)
    counts = np.diff(off)
    has = counts > 0
    first = np.zeros(len(counts))
    last = np.zeros(len(counts))
    first[has] = t[off[:-1][has]]
    last[has] = t[off[1:][has] - 1]
    # Shift each unit onto its own stretch of the time axis so that one `np.interp` over
    # the global spike index serves every unit (windows are clipped to the unit's span).
    shift = np.cumsum(np.concatenate([[0.0], (last - first + 1.0)[:-1]])) - first
    g = t + shift[unit]
    lo = np.maximum(t - window_s / 2, first[unit]) + shift[unit]
    hi = np.minimum(t + window_s / 2, last[unit]) + shift[unit]
    index = np.arange(len(t), dtype=np.float64)
    covered = np.interp(hi, g, index) - np.interp(lo, g, index)
    span = hi - lo
    return np.divide(covered, span, out=np.zeros(len(t)), where=span > 0)


def rate_deciles(rates: np.ndarray, spike_offsets: np.ndarray) -> np.ndarray:
    """Decile (0..9) of every spike's rate within its unit (step 2)."""
    off = np.asarray(spike_offsets, dtype=np.int64)
    unit = _units(off)
    by_rate = np.argsort(rates, kind="stable")  # ties stay in time order
    order = by_rate[np.argsort(unit[by_rate], kind="stable")]
    rank = np.empty(len(rates), dtype=np.int64)
    rank[order] = np.arange(len(rates)) - off[:-1][unit[order]]
    n = np.diff(off)[unit]
    return (N_DECILES * rank) // np.maximum(n, 1)


def linear_acg_3d(spike_times: np.ndarray, spike_offsets: np.ndarray, t_start: float, t_stop: float,
                  deciles: np.ndarray) -> np.ndarray:
    """(units, 10, 1000) probability of a spike at lag 1..1000 ms after a trigger spike of
    each decile (step 3). Spike pairs are enumerated in chunks of `PAIRS_PER_CHUNK`."""
    t = np.asarray(spike_times, dtype=np.float64)
    off = np.asarray(spike_offsets, dtype=np.int64)
    n_units = len(off) - 1
    unit = _units(off)
    n_cells = n_units * N_DECILES * N_LINEAR_LAGS
    b = np.floor((t - t_start) / BIN_S).astype(np.int64)
    # Each unit on its own stretch of a global bin axis, so one searchsorted serves all.
    stride = int(b.max(initial=0)) + N_LINEAR_LAGS + 1
    g = b + unit * stride
    trigger = t + N_LINEAR_LAGS * BIN_S <= t_stop
    first = np.searchsorted(g, g + 1, side="left")  # first spike at lag >= 1 bin
    m = np.where(trigger, np.searchsorted(g, g + N_LINEAR_LAGS, side="right") - first, 0)
    group = unit * N_DECILES + deciles
    # The cell of a pair (i, j) is group_i * 1000 + (b_j - b_i - 1) = base_i + b_j.
    small = n_cells + stride < 2**31 and len(t) < 2**31
    dtype = np.int32 if small else np.int64
    base = (group * N_LINEAR_LAGS - b - 1).astype(dtype)
    b_local = b.astype(dtype)
    cum = np.concatenate([[0], np.cumsum(m)])
    starts = np.searchsorted(cum, np.arange(0, cum[-1], PAIRS_PER_CHUNK), side="right") - 1
    counts = np.zeros(n_cells, dtype=np.float64)
    for a, z in zip(starts, np.append(starts[1:], len(t))):  # chunks of pairs, not units
        total = int(cum[z] - cum[a])
        j = np.arange(total, dtype=dtype) + np.repeat((first[a:z] - (cum[a:z] - cum[a])).astype(dtype), m[a:z])
        counts += np.bincount(np.repeat(base[a:z], m[a:z]) + b_local[j], minlength=n_cells)
    counts = counts.reshape(n_units, N_DECILES, N_LINEAR_LAGS)
    n_trig = np.bincount(group[trigger], minlength=n_units * N_DECILES).reshape(n_units, N_DECILES, 1)
    return np.divide(counts, n_trig, out=np.zeros_like(counts), where=n_trig > 0)


def acg_3d(spike_times: np.ndarray, spike_offsets: np.ndarray, t_start: float, t_stop: float) -> np.ndarray:
    """NEMO's 3D ACG of every unit: (units, 10, 101) float32 (steps 1-5).

    ``spike_times`` is CSR by unit (``spike_offsets``), in seconds; a unit's times are
    sorted here if they are not already."""
    t = np.asarray(spike_times, dtype=np.float64)
    off = np.asarray(spike_offsets, dtype=np.int64)
    unit = _units(off)
    if len(t) > 1 and np.any((np.diff(t) < 0) & (unit[1:] == unit[:-1])):
        t = t[np.lexsort((t, unit))]
    deciles = rate_deciles(spike_rates(t, off), off)
    lin = linear_acg_3d(t, off, t_start, t_stop, deciles)
    out = np.zeros((len(off) - 1, N_DECILES, N_LAGS), dtype=np.float32)
    cols, weights = _log_lag_taps()
    out[:, :, 1:] = ACG_SCALE * (lin[..., cols] * weights).sum(axis=-1)
    return out
