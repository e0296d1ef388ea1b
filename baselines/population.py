"""Hand-crafted population-coupling statistics: the "what does a neuron's co-variation
with the rest of its recording tell" control.

The counterpart of the single-neuron features control (`neuronbench_baselines.features`): each unit
is described by how its activity co-varies with the other units of its recording, and by
nothing else (no stimulus, no behaviour, no labels, nothing learned). It answers how
much of a task a population-context method could get from simple co-variation alone.

Activity: spike counts in ``bin_s`` (100 ms) bins, or the calcium trace at its frame
rate. In each window of ``window_s`` seconds (0: the whole recording, as in the presets; a
recording shorter than a window is one window), every unit's series is z-scored and

    mean_corr       mean Pearson correlation with every other unit;
    top_corr        mean of its ``top_k`` (10) largest correlations;
    pop_corr        correlation with the mean z-scored activity of all the other units:
                    population coupling (Okun et al., Nature 2015, "Diverse coupling of
                    neurons to populations in sensory cortex"; they correlate with the
                    summed population rate; the z-scored mean weighs units equally);
    band_A_BHz      log power of the unit's *partner signal* (the mean z-scored activity
                    of its ``top_k`` most correlated units) in [A, B) Hz, relative to its
                    power in all of `BANDS_HZ`: what the group it co-varies with does.
                    A band above the Nyquist frequency of the step (calcium at 4.3 Hz:
                    3-5 Hz) is 0.

A unit's row is the mean over windows. A unit silent in a window (zero variance) has
correlation 0 with everyone there; a window with one unit gives zeros. Deterministic: no
seed is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from neuronbench.data.binning import activity, zscore
from neuronbench.data.recording import Recording
from neuronbench.errors import NeuronbenchError
from neuronbench.params import Params

BANDS_HZ: tuple[tuple[float, float], ...] = ((0.1, 0.3), (0.3, 0.8), (0.8, 1.2), (1.2, 3.0), (3.0, 5.0))
CHUNK_UNITS = 256  # partner signals computed this many units at a time
COLUMNS: tuple[str, ...] = ("mean_corr", "top_corr", "pop_corr", *(f"band_{a:g}_{b:g}hz" for a, b in BANDS_HZ))


def window_statistics(x: np.ndarray, step_s: float, top_k: int) -> np.ndarray:
    """(units, len(COLUMNS)) statistics of one window of activity ``x`` (steps, units)."""
    n_steps, n_units = x.shape
    out = np.zeros((n_units, len(COLUMNS)))
    if n_units < 2 or n_steps < 2:
        return out
    z = zscore(x, axis=0)
    corr = z.T @ z / n_steps
    np.fill_diagonal(corr, 0.0)
    k = min(top_k, n_units - 1)
    out[:, 0] = corr.sum(axis=1) / (n_units - 1)
    out[:, 2] = (z * zscore(z.sum(axis=1, keepdims=True) - z, axis=0)).mean(axis=0)
    np.fill_diagonal(corr, -np.inf)  # a unit is never its own partner
    partners = np.argsort(-corr, axis=1, kind="stable")[:, :k]
    out[:, 1] = np.take_along_axis(corr, partners, axis=1).mean(axis=1)
    freqs = np.fft.rfftfreq(n_steps, step_s)
    in_band = [(freqs >= a) & (freqs < b) for a, b in BANDS_HZ]
    bands = np.zeros((n_units, len(BANDS_HZ)))
    for lo in range(0, n_units, CHUNK_UNITS):  # bounded memory on long, large recordings
        cols = np.arange(lo, min(lo + CHUNK_UNITS, n_units))
        select = np.zeros((n_units, len(cols)))
        select[partners[cols], np.arange(len(cols))[:, None]] = 1.0 / k
        signal = z @ select  # (steps, chunk): each unit's partner signal
        power = np.abs(np.fft.rfft(signal - signal.mean(axis=0), axis=0)) ** 2
        bands[cols] = np.stack([power[m].sum(axis=0) for m in in_band], axis=1)
    total = bands.sum(axis=1, keepdims=True)
    ok = (bands > 0) & (total > 0)
    out[:, 3:] = np.log(np.divide(bands, total, out=np.ones_like(bands), where=ok))
    return out


def activity_windows(rec: Recording, *, bin_s: float, window_s: float) -> tuple[list[np.ndarray], float]:
    """The recording's activity (steps, units) cut into non-overlapping windows of
    ``window_s`` seconds (0, or longer than the recording: one window), and the step in s."""
    x, times = activity(rec, bin_s)
    x = x.T  # (steps, units)
    step_s = bin_s
    if rec.modality == "calcium":
        step_s = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    size = len(x) if window_s <= 0 else max(2, int(round(window_s / step_s)))
    return [x[s : s + size] for s in range(0, max(1, len(x) - size + 1), size)], step_s


def coupling_statistics(rec: Recording, *, bin_s: float, window_s: float, top_k: int) -> np.ndarray:
    """(units, len(COLUMNS)): `window_statistics` averaged over the recording's windows."""
    windows, step_s = activity_windows(rec, bin_s=bin_s, window_s=window_s)
    return np.mean([window_statistics(w, step_s, top_k) for w in windows], axis=0)


class PopulationCoupling(Params):
    """Population-coupling statistics (see the module docstring for the columns).
    Parameters declared below (values: the presets of `baselines.POPULATION`).

    Untrained: ``fit`` has nothing to learn; ``embed`` works without it.
    """

    bin_s: float  # spike-count bin in seconds (calcium uses its frames)
    window_s: float  # window length in seconds; 0 = the whole recording
    top_k: int  # partners per unit for ``top_corr`` and the partner signal

    def fit(self, recordings: Sequence[Recording], *, seed: int,
            labels: pd.Series | None = None) -> PopulationCoupling:
        """Nothing to learn (``seed`` and ``labels`` unused)."""
        self.n_features_ = len(COLUMNS)
        return self

    def embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        """One row per unit (index ``neuron_id``), columns `COLUMNS`."""
        if not recordings:
            raise NeuronbenchError("population: embed needs at least one recording")
        if self.bin_s <= 0 or self.top_k < 1:
            raise NeuronbenchError(f"population: expected bin_s > 0 and top_k >= 1, got {self.bin_s}, {self.top_k}")
        values = np.vstack([coupling_statistics(r, bin_s=self.bin_s, window_s=self.window_s, top_k=self.top_k)
                            for r in recordings])
        index = pd.Index(np.concatenate([r.neuron_ids for r in recordings]), name="neuron_id")
        return pd.DataFrame(values, index=index, columns=list(COLUMNS))
