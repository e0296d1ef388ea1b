"""NeuPRINT's inputs: per-neuron z-scored activity on a regular time grid, population
statistics and behaviour per step, and the masked (current, previous) pairs of a batch.

Facts followed (Mi et al. 2023; `lumimim/NeuPRINT`, ``data_preprocess.py`` and
``dataset.py``):
- Each neuron's activity is z-scored over its whole session (a constant neuron is 0).
  Calcium is used at its frame rate; spikes are counted in ``bin_s`` bins (our choice;
  the paper has calcium only) and then z-scored, so counts and rates are the same input.
- Population statistics: the mean and the standard deviation (ddof 0) of the z-scored
  activity over *all* neurons of the session at each step (the original precomputes
  them per session, so the neuron being predicted is part of them: a small leak of the
  masked value; ``population_stats="leave_one_out"`` removes it, ``"all"`` keeps it).
- Behaviour (running speed, pupil size): NaN gaps linearly interpolated, resampled on
  the activity's grid, z-scored per session. The original averages the two samples
  around each frame time; we interpolate at each step's time (a frame's time, or a
  bin's centre), which is the same for regularly sampled behaviour.
- A batch is one session, ``n_windows`` windows (published 2) of ``window_len`` steps
  (published 200), and ``n_neurons`` neurons (published 512). Window starts are drawn
  from the first ``train_fraction`` (published 75 %) of the session for training and
  from the rest for validation.
- Masking (published 25 %): each entry is masked with probability ``mask_ratio``; a
  masked entry is zeroed (80 %), replaced by N(0, 1) noise (10 %) or kept (10 %).
  The original also forces one slice to be masked: its comment says the last time
  step, but it indexes the neuron axis, so the last sampled neuron is masked at every
  step (``forced_mask="last_neuron"``, the presets' setting, keeps that quirk;
  ``"last_step"`` does what the comment intends; ``"none"`` forces nothing).
Deviations: neurons are drawn without replacement (the original draws 512 with
replacement, and 90 % of them among the transcriptomically labelled neurons, which a
label-free plug-in cannot know); a session with fewer neurons contributes all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from neuronbench.data.binning import activity, behaviour_on_grid, scratch_array, zscore
from neuronbench.data.recording import Recording
from neuronbench.errors import NeuronbenchError

BEHAVIOUR_COLUMNS: tuple[str, ...] = ("running_speed", "pupil")
POPULATION_STATS: tuple[str, ...] = ("leave_one_out", "all")
FORCED_MASKS: tuple[str, ...] = ("last_step", "last_neuron", "none")


@dataclass(frozen=True)
class Session:
    """One recording, ready for batching.

    Attributes:
        recording: its id.
        z: z-scored activity, (neurons, steps) float32.
        s1, s2: sum and sum of squares of ``z`` over all neurons per step (float64).
        behaviour: z-scored behaviour per step, (steps, len(columns)) float32.
        keys: embedding key of each neuron (``<animal>/<track_id>`` when tracked).
        n_train: steps in the training part (the first ``train_fraction``).
    """

    recording: str
    z: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    behaviour: np.ndarray
    keys: tuple[str, ...]
    n_train: int

    @property
    def n_neurons(self) -> int:
        return self.z.shape[0]


@dataclass(frozen=True)
class Batch:
    """The masked entries of a batch as (current, previous) pairs, on one device.

    ``rows`` index the embedding table; ``x``/``x_prev`` are the (corrupted) inputs at
    t and t - 1; ``ctx``/``ctx_prev`` the context features; ``t`` the position in the
    window; ``target`` the true z-scored activity at t.
    """

    rows: torch.Tensor
    x: torch.Tensor
    x_prev: torch.Tensor
    ctx: torch.Tensor
    ctx_prev: torch.Tensor
    t: torch.Tensor
    target: torch.Tensor


def prepare_session(rec: Recording, *, bin_s: float, train_fraction: float,
                    behaviour_columns: Sequence[str]) -> Session:
    """A recording as a `Session`: z-scored activity, population sums, behaviour."""
    act, times = activity(rec, bin_s)
    if rec.modality == "spikes":
        times = times + bin_s / 2  # behaviour at the bin's centre
    z = zscore(act, axis=1).astype(np.float32)
    if z.shape[1] < 2:
        raise NeuronbenchError(f"recording {rec.recording!r}: {z.shape[1]} time step(s); NeuPRINT needs at least 2")
    z64 = z.astype(np.float64)
    s1, s2 = z64.sum(axis=0), (z64**2).sum(axis=0)
    del z64
    kept = scratch_array(z.size, np.float32).reshape(z.shape)  # file-backed: sessions of every recording are kept
    kept[:] = z
    return Session(
        recording=rec.recording,
        z=kept,
        s1=s1,
        s2=s2,
        behaviour=behaviour_on_grid(rec, times, behaviour_columns),
        keys=tuple(rec.group_keys),
        n_train=max(1, int(z.shape[1] * train_fraction)),
    )


def window_starts(session: Session, part: str, window_len: int, n_windows: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Start steps of ``n_windows`` windows in the ``"train"`` or ``"val"`` part, and
    the window length (shortened to the part when the part is shorter)."""
    lo, hi = (0, session.n_train) if part == "train" else (session.n_train, session.z.shape[1])
    length = min(window_len, hi - lo)
    if length < 1:
        raise NeuronbenchError(f"recording {session.recording!r}: no {part} steps")
    n_starts = hi - lo - length + 1
    starts = lo + rng.choice(n_starts, size=n_windows, replace=n_starts < n_windows)
    return starts, length


def population_context(x: np.ndarray, s1: np.ndarray, s2: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Population mean and std at each entry, (..., 2): over all ``n`` neurons
    (``mode="all"``), or over all neurons but the entry's own (``"leave_one_out"``).
    ``x`` is the entries' own activity; ``s1``/``s2`` the population sums at their steps."""
    if mode == "all":
        mean = np.broadcast_to(s1 / n, x.shape)
        var = np.broadcast_to(s2 / n, x.shape) - mean**2
    elif mode == "leave_one_out":
        if n < 2:
            return np.zeros((*x.shape, 2), dtype=np.float32)
        mean = (s1 - x) / (n - 1)
        var = (s2 - x**2) / (n - 1) - mean**2
    else:
        raise ValueError(f"population_stats must be one of {POPULATION_STATS}, got {mode!r}")
    return np.stack([mean, np.sqrt(np.maximum(var, 0.0))], axis=-1).astype(np.float32)


def mask_entries(shape: tuple[int, int, int], rng: np.random.Generator, mask_ratio: float,
                 forced: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BERT-style masking of (windows, neurons, steps) entries: (masked, zeroed,
    noised) boolean arrays; a masked entry is zeroed (80 %), noised (10 %) or kept."""
    masked = rng.random(shape) < mask_ratio
    if forced == "last_step":
        masked[:, :, -1] = True
    elif forced == "last_neuron":
        masked[:, -1, :] = True
    elif forced != "none":
        raise ValueError(f"forced_mask must be one of {FORCED_MASKS}, got {forced!r}")
    u = rng.random(shape)
    return masked, masked & (u < 0.8), masked & (u >= 0.8) & (u < 0.9)


def make_batch(session: Session, rows: np.ndarray, rng: np.random.Generator, *, part: str, window_len: int,
               n_windows: int, n_neurons: int, mask_ratio: float, forced_mask: str, population_stats: str,
               device: torch.device) -> Batch:
    """Sample windows and neurons of one session, mask, and gather the masked entries.

    ``rows`` maps the session's neurons to rows of the embedding table.
    """
    starts, length = window_starts(session, part, window_len, n_windows, rng)
    n = session.n_neurons
    idx = np.sort(rng.choice(n, size=n_neurons, replace=False)) if n > n_neurons else np.arange(n)
    steps = starts[:, None] + np.arange(length)  # (B, W)
    x = session.z[idx][:, steps].transpose(1, 0, 2)  # (B, n, W)
    masked, zeroed, noised = mask_entries(x.shape, rng, mask_ratio, forced_mask)
    x_in = x.copy()
    x_in[zeroed] = 0.0
    x_in[noised] = rng.standard_normal(int(noised.sum())).astype(np.float32)
    pop = population_context(x.astype(np.float64), session.s1[steps][:, None, :], session.s2[steps][:, None, :],
                             n, population_stats)  # (B, n, W, 2)
    beh = np.broadcast_to(session.behaviour[steps][:, None], (*x.shape, session.behaviour.shape[1]))
    ctx = np.concatenate([pop, beh], axis=-1)  # (B, n, W, C)
    b, i, t = np.nonzero(masked)
    tp = np.maximum(t - 1, 0)

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    return Batch(rows=tensor(rows[idx][i].astype(np.int64)), x=tensor(x_in[b, i, t]), x_prev=tensor(x_in[b, i, tp]),
                 ctx=tensor(ctx[b, i, t]), ctx_prev=tensor(ctx[b, i, tp]), t=tensor(t.astype(np.int64)),
                 target=tensor(x[b, i, t]))
