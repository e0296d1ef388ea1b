"""NuCLR's inputs: tokens, stimulus periods, the two views of a pair, and batches.

Tokens follow Arora et al. 2025 (`nerdslab/nuclr`): spike counts in 20 ms bins, 50 bins
per token; calcium dF/F over the recording's 99th percentile, 4 frames per token. Every
recording's activity is binned once into one flat, memory-mapped `TokenStore`, so a batch
is one gather on the device. Views, unit dropout and the pair filter reproduce the
original (its quirks as the defaults, our corrections as options). Each rule and each
deviation: docs/methods.md ("Tokens, views and batches").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from neuronbench.data.binning import activity_shape, bin_spikes, percentile_scaled, scratch_array
from neuronbench.data.recording import Recording
from neuronbench.errors import NeuronbenchError

MAX_COUNT = 255  # spikes per 20 ms bin stored in uint8


@dataclass(frozen=True)
class TokenStore:
    """The activity of a list of recordings, flat and unit-major, ready for windowing.

    Attributes:
        modality: ``"spikes"`` or ``"calcium"``.
        flat: device tensor of every unit's series back to back (uint8 or float32).
        host: the same buffer as a NumPy array (for finding silent units).
        unit_offset: (units,) where each unit's series starts in ``flat``.
        first_unit: (recordings + 1,) global index of each recording's first unit.
        n_steps: (recordings,) time steps (bins or frames) of each recording.
        step_s: (recordings,) duration of one step in seconds.
        token_steps: steps per token (50 bins or 4 frames).
        periods: per recording, (k, 2) int64 [start, stop) step ranges of one stimulus.
        neuron_ids: per recording, its units' global ids.
    """

    modality: str
    flat: torch.Tensor
    host: np.ndarray
    unit_offset: np.ndarray
    first_unit: np.ndarray
    n_steps: np.ndarray
    step_s: np.ndarray
    token_steps: int
    periods: list[np.ndarray]
    neuron_ids: list[np.ndarray]

    @property
    def n_recordings(self) -> int:
        return len(self.n_steps)

    def n_units(self, r: int) -> int:
        return int(self.first_unit[r + 1] - self.first_unit[r])

    def block(self, r: int) -> np.ndarray:
        """(units, steps) host view of recording r (no copy)."""
        g0, g1 = self.first_unit[r], self.first_unit[r + 1]
        start = self.unit_offset[g0]
        return self.host[start : start + (g1 - g0) * self.n_steps[r]].reshape(g1 - g0, self.n_steps[r])

    def present(self, r: int, start: int, window_steps: int) -> np.ndarray:
        """(units,) bool: units of recording r that get tokens in the window (spikes: at
        least one spike in it; calcium: every unit)."""
        if self.modality == "calcium":
            return np.ones(self.n_units(r), dtype=bool)
        return self.block(r)[:, start : start + window_steps].any(axis=1)


def normalised_calcium(rec: Recording) -> np.ndarray:
    """(units, frames) float32 dF/F divided by the recording's 99th percentile (all frames
    and units); a non-positive percentile (a silent recording) leaves the traces as they are."""
    return np.ascontiguousarray(percentile_scaled(rec.traces, 99.0).T)


def stimulus_periods(rec: Recording) -> np.ndarray:
    """(k, 2) [start, stop) times in seconds of the recording's stimulus periods: its
    epochs with touching epochs of the same stimulus merged; the whole recording when it
    has no epochs."""
    if rec.epochs is None or len(rec.epochs) == 0:
        return np.array([[rec.t_start, rec.t_stop]], dtype=np.float64)
    ep = rec.epochs.sort_values("start")
    merged: list[list] = []
    for start, stop, stim in zip(ep["start"], ep["stop"], ep["stimulus"]):
        if merged and merged[-1][2] == stim and abs(merged[-1][1] - start) < 1e-6:
            merged[-1][1] = stop
        else:
            merged.append([float(start), float(stop), stim])
    return np.array([m[:2] for m in merged], dtype=np.float64)


def build_store(recordings: Sequence[Recording], *, bin_s: float, bins_per_token: int,
                frames_per_token: int, device: torch.device) -> TokenStore:
    """Bin (spikes) or normalise (calcium) every recording once and lay them out flat.
    A period keeps the steps that lie inside it: bins [t0 + k bin_s, t0 + (k+1) bin_s)
    within [start, stop), or frames whose time is in [start, stop)."""
    modalities = sorted({r.modality for r in recordings})
    if len(modalities) != 1:
        raise NeuronbenchError(f"nuclr: expected recordings of one modality, got {modalities}")
    modality = modalities[0]
    # sizes first, so that one buffer is filled recording by recording
    n_units, n_steps = np.array([activity_shape(r, bin_s) for r in recordings], dtype=np.int64).reshape(-1, 2).T
    lengths = np.repeat(n_steps, n_units)
    unit_offset = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    host = scratch_array(int(lengths.sum()), np.uint8 if modality == "spikes" else np.float32)
    periods, step_s = [], []
    first = 0
    for rec, n_u in zip(recordings, n_units):
        bounds = stimulus_periods(rec)
        if modality == "spikes":
            x = np.minimum(bin_spikes(rec, bin_s), MAX_COUNT).astype(np.uint8)
            rel = (bounds - rec.t_start) / bin_s
            per = np.column_stack([np.ceil(rel[:, 0] - 1e-6), np.floor(rel[:, 1] + 1e-6)])
            step = bin_s
        else:
            x = normalised_calcium(rec)
            times = np.asarray(rec.frame_times, dtype=np.float64)
            per = np.searchsorted(times, bounds, side="left")
            step = float(np.median(np.diff(times)))
        host[unit_offset[first] : unit_offset[first] + x.size] = x.ravel()
        first += n_u
        periods.append(np.clip(per, 0, x.shape[1]).astype(np.int64))
        step_s.append(step)
        del x
    flat = torch.from_numpy(host).to(device)
    return TokenStore(
        modality=modality,
        flat=flat,
        host=flat.numpy() if flat.device.type == "cpu" else host,
        unit_offset=unit_offset,
        first_unit=np.concatenate([[0], np.cumsum(n_units)]).astype(np.int64),
        n_steps=n_steps,
        step_s=np.array(step_s, dtype=np.float64),
        token_steps=bins_per_token if modality == "spikes" else frames_per_token,
        periods=periods,
        neuron_ids=[r.neuron_ids for r in recordings],
    )


View = tuple[int, int, np.ndarray]
"""A window: (recording index, start step, local indices of its units in token order)."""


@dataclass(frozen=True)
class Batch:
    """Windows in the packed layout the model reads.

    Attributes:
        tokens: (U, L, P) float32, one row per (window, unit): L tokens of P steps.
        index: (U,) long, the row's place in the padded (windows x max_units) layout,
            ``window * max_units + slot``.
        mask: (W, max_units) bool, True where a slot holds a unit.
        units: (U,) host int64, the global unit index of every row.
        n_matched: (pairs,) long for training batches (views 0..P-1 are the first views,
            P..2P-1 the second ones; matched units occupy the first slots of both), else None.
    """

    tokens: torch.Tensor
    index: torch.Tensor
    mask: torch.Tensor
    units: np.ndarray
    n_matched: torch.Tensor | None = None

    @property
    def n_windows(self) -> int:
        return self.mask.shape[0]

    @property
    def max_units(self) -> int:
        return self.mask.shape[1]


def make_batch(store: TokenStore, views: Sequence[View], window_steps: int,
               n_matched: np.ndarray | None = None) -> Batch:
    """Gather the tokens of ``views`` with one device-side row gather from the store's
    sliding-window view (the host sends only one start offset per row)."""
    lens = np.array([len(v[2]) for v in views], dtype=np.int64)
    units = np.concatenate([store.first_unit[r] + u for r, _, u in views]).astype(np.int64)
    starts = np.repeat(np.array([s for _, s, _ in views], dtype=np.int64), lens)
    slot = np.arange(len(units)) - np.repeat(np.cumsum(lens) - lens, lens)
    width = int(lens.max())
    index = np.repeat(np.arange(len(views)), lens) * width + slot
    mask = np.arange(width)[None, :] < lens[:, None]
    device = store.flat.device
    rows = torch.from_numpy(store.unit_offset[units] + starts).to(device)
    windows = store.flat.unfold(0, window_steps, 1)  # (positions, window_steps), no copy
    tokens = windows.index_select(0, rows).float().view(len(units), -1, store.token_steps)
    return Batch(
        tokens=tokens,
        index=torch.from_numpy(index).to(device),
        mask=torch.from_numpy(mask).to(device),
        units=units,
        n_matched=None if n_matched is None else torch.from_numpy(np.asarray(n_matched, dtype=np.int64)).to(device),
    )


def sampling_periods(store: TokenStore, window_steps: int) -> list[np.ndarray]:
    """Per recording, the periods long enough to sample from (>= 2 windows, as the
    original); recordings without one are left out of training."""
    return [p[(p[:, 1] - p[:, 0]) >= 2 * window_steps] for p in store.periods]


def epoch_pairs(periods: Sequence[np.ndarray], window_steps: int, max_distance: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """(pairs, 3) int64 rows (recording, start of view 1, start of view 2), shuffled.
    ``max_distance`` is in steps, per recording."""
    out = []
    for r, per in enumerate(periods):
        if len(per) == 0:
            continue
        starts = [np.arange(a + rng.integers(0, window_steps), b - window_steps + 1, window_steps) for a, b in per]
        s1 = np.concatenate(starts).astype(np.int64)
        if len(s1) == 0:
            continue
        # view 2: uniform over the windows inside one period and within max_distance of view 1
        lo = np.maximum(per[None, :, 0], s1[:, None] - max_distance[r])
        hi = np.minimum(per[None, :, 1], s1[:, None] + window_steps + max_distance[r]) - window_steps
        n_valid = np.clip(hi - lo + 1, 0, None)  # (views, periods); >= 1 where view 1 lies
        cum = np.cumsum(n_valid, axis=1)
        pick = (rng.random(len(s1)) * cum[:, -1]).astype(np.int64)
        which = (pick[:, None] >= cum).sum(axis=1)
        before = np.take_along_axis(cum - n_valid, which[:, None], axis=1)[:, 0]
        s2 = np.take_along_axis(lo, which[:, None], axis=1)[:, 0] + pick - before
        out.append(np.column_stack([np.full(len(s1), r), s1, s2]))
    if not out:
        return np.zeros((0, 3), dtype=np.int64)
    pairs = np.concatenate(out).astype(np.int64)
    return pairs[rng.permutation(len(pairs))]


def keep_units(n: int, keep_min: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) bool: a random subset of k units, k uniform in [floor(keep_min n), n]."""
    low = int(n * keep_min)
    keep = np.zeros(n, dtype=bool)
    if n <= low:
        keep[:] = True
        return keep
    keep[rng.permutation(n)[: rng.integers(low, n + 1)]] = True
    return keep


PAIR_FILTERS = ("views", "matched")


def pair_batch(store: TokenStore, pairs: np.ndarray, window_steps: int, *, keep_min: float,
               unit_dropout: bool, min_matched: int, rng: np.random.Generator,
               pair_filter: str = "views") -> Batch | None:
    """The training batch of ``pairs`` (rows of `epoch_pairs`): unit dropout per view,
    silent units removed, matched units first; a pair is dropped when a view has <=
    ``min_matched`` units or none is matched (``pair_filter="views"``, the original), or
    when it has <= ``min_matched`` matched units (``"matched"``). None if none is left."""
    if pair_filter not in PAIR_FILTERS:
        raise NeuronbenchError(f"nuclr: pair_filter must be one of {PAIR_FILTERS}, got {pair_filter!r}")
    first, second, matched = [], [], []
    for r, s1, s2 in pairs:
        n = store.n_units(r)
        p1 = store.present(r, s1, window_steps)
        p2 = store.present(r, s2, window_steps)
        if unit_dropout:
            p1 &= keep_units(n, keep_min, rng)
            p2 &= keep_units(n, keep_min, rng)
        both = p1 & p2
        m = int(both.sum())
        small = (m <= min_matched if pair_filter == "matched"
                 else m == 0 or min(int(p1.sum()), int(p2.sum())) <= min_matched)
        if small:
            continue
        shared = np.flatnonzero(both)
        first.append((r, s1, np.concatenate([shared, np.flatnonzero(p1 & ~p2)])))
        second.append((r, s2, np.concatenate([shared, np.flatnonzero(p2 & ~p1)])))
        matched.append(m)
    if not matched:
        return None
    return make_batch(store, first + second, window_steps, np.array(matched))


def readout_views(store: TokenStore, window_tokens: int) -> dict[int, list[View]]:
    """Non-overlapping windows over every recording, the last one shifted back to end at
    the recording's end; grouped by window length in steps. A recording shorter than one
    window is read in one window of its whole tokens; one shorter than a token is not read."""
    groups: dict[int, list[View]] = {}
    for r in range(store.n_recordings):
        n_steps = int(store.n_steps[r])
        window = min(window_tokens, n_steps // store.token_steps) * store.token_steps
        if window == 0:
            continue
        starts = list(range(0, n_steps - window + 1, window))
        if starts[-1] + window < n_steps:
            starts.append(n_steps - window)
        for s in starts:
            units = np.flatnonzero(store.present(r, s, window))
            if len(units):
                groups.setdefault(window, []).append((r, s, units))
    return groups
