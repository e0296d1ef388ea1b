"""Hand-crafted single-neuron features: the "what does a neuron's own statistics tell"
control.

Each unit is described by statistics of its own activity only: no population context,
nothing learned, nothing tuned. Spikes (`SPIKE_COLUMNS`): rate, ISI variability and
quantiles, burst indices, a normalised autocorrelogram, and waveform shape when every
recording has waveforms. Calcium (`CALCIUM_COLUMNS`): scale-free trace, autocorrelation,
spectral and event statistics. The column list is fixed per modality (`feature_names`),
every value is finite, and a unit with too little activity gets the documented fallback
(0) with an indicator column set to 1. Each column's definition (with citations):
docs/methods.md ("The controls").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import signal

from neuronbench.data.recording import Recording
from neuronbench.errors import NeuronbenchError
from neuronbench.params import Params

# --- spikes -------------------------------------------------------------------------
ISI_QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.50, 0.75, 0.95)
ISI_FRACTION_THRESHOLDS_S: tuple[float, ...] = (0.002, 0.005, 0.010)
ISI_FLOOR_S = 1e-5
ACG_EDGES_S: np.ndarray = np.logspace(-3, 0, 11)
ZERO_COUNT = 0.5  # a count of 0 enters the log-rate as half a spike / event

ACG_COLUMNS: tuple[str, ...] = tuple(
    f"acg_{lo * 1e3:.0f}_{hi * 1e3:.0f}ms" for lo, hi in zip(ACG_EDGES_S[:-1], ACG_EDGES_S[1:])
)
SPIKE_COLUMNS: tuple[str, ...] = (
    "log_rate",
    "isi_cv",
    "isi_cv2",
    "isi_lv",
    *(f"log_isi_q{q * 100:02.0f}" for q in ISI_QUANTILES),
    *(f"isi_frac_lt{t * 1e3:.0f}ms" for t in ISI_FRACTION_THRESHOLDS_S),
    *ACG_COLUMNS,
    "few_spikes",
)
WAVEFORM_COLUMNS: tuple[str, ...] = (
    "wf_trough_to_peak_ms",
    "wf_peak_trough_ratio",
    "wf_trough_halfwidth_ms",
    "wf_invalid",
)

# --- calcium ------------------------------------------------------------------------
MAD_TO_SD = 1.4826
ACF_LAGS_S: tuple[float, ...] = (0.1, 0.2, 0.4, 0.8, 1.6)
BANDS_HZ: tuple[tuple[float, float], ...] = ((0.0, 0.1), (0.1, 0.5), (0.5, 1.5), (1.5, 5.0))
WELCH_WINDOW_S = 40.0
EVENT_ON, EVENT_OFF = 4.0, 1.0  # hysteresis thresholds, in noise sigmas
IEI_QUANTILES: tuple[float, ...] = (0.25, 0.50, 0.75)
CHUNK_VALUES = 2_000_000  # frames x neurons converted to float64 at a time

CALCIUM_COLUMNS: tuple[str, ...] = (
    "skewness",
    "kurtosis",
    "std_over_mad",
    "std_over_noise",
    "p99_over_noise",
    *(f"acf_{lag * 1e3:.0f}ms" for lag in ACF_LAGS_S),
    *(f"relpow_{lo * 1e3:.0f}_{hi * 1e3:.0f}mHz" for lo, hi in BANDS_HZ),
    "log_event_rate",
    "iei_cv",
    *(f"log_iei_q{q * 100:02.0f}" for q in IEI_QUANTILES),
    "few_events",
)


def feature_names(modality: str, with_waveforms: bool = False) -> list[str]:
    """The embedding's columns for a modality (waveform columns only for spikes)."""
    if modality == "spikes":
        return list(SPIKE_COLUMNS) + (list(WAVEFORM_COLUMNS) if with_waveforms else [])
    if modality == "calcium":
        return list(CALCIUM_COLUMNS)
    raise NeuronbenchError(f"features: unknown modality {modality!r}; expected 'spikes' or 'calcium'")


def _ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    """num / den, and 0 where den is 0 or either is not finite."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64))
    out = np.zeros(num.shape)
    ok = (den != 0) & np.isfinite(den) & np.isfinite(num)
    np.divide(num, den, out=out, where=ok)
    out[~np.isfinite(out)] = 0.0
    return out


# --- spikes -------------------------------------------------------------------------


def autocorrelogram(spikes: np.ndarray, duration: float, edges: np.ndarray = ACG_EDGES_S) -> np.ndarray:
    """Rate-normalised autocorrelogram of a sorted spike train at positive lags.

    Bin k counts ordered pairs i < j with ``edges[k] <= t_j - t_i < edges[k+1]``, via
    ``searchsorted`` (O(n log n) per edge), and is divided by the count expected for n
    spikes placed uniformly on [0, T]: n (n - 1) / T^2 * ((b - a) T - (b^2 - a^2) / 2).
    """
    n = len(spikes)
    if n < 2:
        return np.zeros(len(edges) - 1)
    first = np.arange(1, n + 1)
    # pairs with lag < e: for each i, the spikes j > i with t_j < t_i + e
    below = np.array(
        [(np.searchsorted(spikes, spikes + e, side="left") - first).sum() for e in edges], dtype=np.float64
    )
    counts = np.diff(below)
    a, b = edges[:-1], edges[1:]
    expected = n * (n - 1) / duration**2 * np.clip((b - a) * duration - (b**2 - a**2) / 2, 0.0, None)
    return _ratio(counts, expected)


def isi_statistics(isi: np.ndarray) -> np.ndarray:
    """CV, CV2 (Holt 1996), LV (Shinomoto 2003), log-ISI quantiles and short-ISI
    fractions of a sequence of at least 2 ISIs, in `SPIKE_COLUMNS` order."""
    cv = _ratio(isi.std(), isi.mean())
    pair_sum = isi[1:] + isi[:-1]
    pair_diff = isi[1:] - isi[:-1]
    cv2 = float(np.mean(_ratio(2.0 * np.abs(pair_diff), pair_sum)))
    lv = float(3.0 * np.mean(_ratio(pair_diff, pair_sum) ** 2))
    quantiles = np.quantile(np.log(np.maximum(isi, ISI_FLOOR_S)), ISI_QUANTILES)
    fractions = [float(np.mean(isi < t)) for t in ISI_FRACTION_THRESHOLDS_S]
    return np.array([float(cv), cv2, lv, *quantiles, *fractions])


def spike_train_features(spikes: np.ndarray, duration: float, min_spikes: int) -> np.ndarray:
    """`SPIKE_COLUMNS` of one unit's spike train (seconds) over ``duration`` seconds."""
    s = np.asarray(spikes, dtype=np.float64)
    n = len(s)
    log_rate = np.log(max(n, ZERO_COUNT) / duration)
    n_isi_cols = len(SPIKE_COLUMNS) - 2 - len(ACG_COLUMNS)
    if n < max(min_spikes, 3):  # at least 2 ISIs for CV2 / LV
        return np.array([log_rate, *np.zeros(n_isi_cols + len(ACG_COLUMNS)), 1.0])
    isi = np.diff(s)
    if np.any(isi < 0):
        s = np.sort(s)
        isi = np.diff(s)
    return np.array([log_rate, *isi_statistics(isi), *autocorrelogram(s, duration), 0.0])


def waveform_features(waveform: np.ndarray, rate: float) -> np.ndarray:
    """`WAVEFORM_COLUMNS` of one mean waveform sampled at ``rate`` Hz.

    Baseline = the median sample; the waveform is flipped if its largest deflection is
    positive. Trough = the minimum; peak = the maximum at or after the trough.
    """
    w = np.asarray(waveform, dtype=np.float64)
    invalid = np.array([0.0, 0.0, 0.0, 1.0])
    if w.size < 3 or not np.all(np.isfinite(w)) or not rate or rate <= 0:
        return invalid
    w = w - np.median(w)
    if w.max() > -w.min():
        w = -w
    depth = -w.min()
    if not depth > 0:
        return invalid
    trough = int(np.argmin(w))
    peak = trough + int(np.argmax(w[trough:]))
    trough_to_peak = (peak - trough) / rate * 1e3
    peak_ratio = max(w[peak], 0.0) / depth
    half = -depth / 2.0
    above = np.nonzero(w[:trough] > half)[0]  # last sample above half depth before the trough
    if above.size:
        i = int(above[-1])
        left = i + (w[i] - half) / (w[i] - w[i + 1])
    else:
        left = 0.0
    above = np.nonzero(w[trough:] > half)[0]  # first sample back above half depth after it
    if above.size:
        j = trough + int(above[0])
        right = j - 1 + (half - w[j - 1]) / (w[j] - w[j - 1])
    else:
        right = float(len(w) - 1)
    halfwidth = (right - left) / rate * 1e3
    return np.array([trough_to_peak, peak_ratio, halfwidth, 0.0])


def spike_features(rec: Recording, min_spikes: int, with_waveforms: bool) -> np.ndarray:
    """(units, features) matrix of a spikes recording, columns `feature_names`."""
    duration = rec.duration
    rows = [spike_train_features(rec.unit_spikes(i), duration, min_spikes) for i in range(rec.n_units)]
    out = np.vstack(rows)
    if with_waveforms:
        wf = np.vstack([waveform_features(rec.waveforms[i], rec.waveform_rate) for i in range(rec.n_units)])
        out = np.hstack([out, wf])
    return out


# --- calcium ------------------------------------------------------------------------


def frame_rate(frame_times: np.ndarray) -> float:
    """1 / the median frame interval (robust to dropped frames)."""
    return float(1.0 / np.median(np.diff(np.asarray(frame_times, dtype=np.float64))))


def _autocorrelation_at(xc: np.ndarray, m2: np.ndarray, lags_s: Sequence[float], fs: float) -> np.ndarray:
    """(neurons, lags) biased autocorrelation of mean-removed ``xc`` (frames, neurons)
    at lags in seconds, linearly interpolated between integer frame lags."""
    n_frames = xc.shape[0]
    cache: dict[int, np.ndarray] = {0: np.ones(xc.shape[1])}

    def at(k: int) -> np.ndarray:
        if k not in cache:
            cov = np.einsum("tn,tn->n", xc[:-k], xc[k:]) / n_frames if k < n_frames else np.zeros(xc.shape[1])
            cache[k] = _ratio(cov, m2)
        return cache[k]

    cols = []
    for lag in lags_s:
        pos = lag * fs
        k = int(np.floor(pos))
        w = pos - k
        cols.append((1.0 - w) * at(k) + (w * at(k + 1) if w > 0 else 0.0))
    return np.column_stack(cols)


def _relative_band_power(x: np.ndarray, fs: float) -> np.ndarray:
    """(neurons, bands) Welch power per band of `BANDS_HZ` / power in 0 - 5 Hz (below
    the Nyquist frequency)."""
    n_frames = x.shape[0]
    nperseg = int(min(n_frames, max(8, round(WELCH_WINDOW_S * fs))))
    freqs, psd = signal.welch(x, fs=fs, nperseg=nperseg, axis=0, detrend="constant")
    psd = psd[freqs < min(BANDS_HZ[-1][1], fs / 2)]
    freqs = freqs[freqs < min(BANDS_HZ[-1][1], fs / 2)]
    total = psd.sum(axis=0)
    bands = [psd[(freqs >= lo) & (freqs < hi)].sum(axis=0) for lo, hi in BANDS_HZ]
    return _ratio(np.column_stack(bands), total[:, None])


def _event_onsets(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Events of normalised traces z (frames, neurons): runs of z >= EVENT_OFF that reach
    EVENT_ON. Returns (neuron index, onset frame) of every event, sorted by neuron, frame."""
    low = np.zeros((z.shape[1], z.shape[0] + 2), dtype=np.int8)
    low[:, 1:-1] = (z >= EVENT_OFF).T
    step = np.diff(low, axis=1)
    unit, start = np.nonzero(step == 1)
    _, stop = np.nonzero(step == -1)  # exclusive; pairs with start in the same order
    high = np.zeros((z.shape[1], z.shape[0] + 1), dtype=np.int64)
    np.cumsum((z >= EVENT_ON).T, axis=1, out=high[:, 1:])
    keep = high[unit, stop] > high[unit, start]
    return unit[keep], start[keep]


def _event_statistics(times: np.ndarray, span: float, min_events: int) -> np.ndarray:
    """log rate, IEI CV, log-IEI quantiles and the few-events flag of one neuron."""
    n = len(times)
    log_rate = np.log(max(n, ZERO_COUNT) / span)
    if n < max(min_events, 2):
        return np.array([log_rate, 0.0, *np.zeros(len(IEI_QUANTILES)), 1.0])
    iei = np.diff(times)
    quantiles = np.quantile(np.log(np.maximum(iei, ISI_FLOOR_S)), IEI_QUANTILES)
    return np.array([log_rate, float(_ratio(iei.std(), iei.mean())), *quantiles, 0.0])


def trace_features(x: np.ndarray, frame_times: np.ndarray, fs: float, min_events: int) -> np.ndarray:
    """(neurons, `CALCIUM_COLUMNS`) of traces x (frames, neurons), float64."""
    n_frames, n_units = x.shape
    mean = x.mean(axis=0)
    xc = x - mean
    m2 = np.mean(xc**2, axis=0)
    std = np.sqrt(m2)
    skew = _ratio(np.mean(xc**3, axis=0), m2**1.5)
    kurt = np.where(m2 > 0, _ratio(np.mean(xc**4, axis=0), m2**2) - 3.0, 0.0)
    med = np.median(x, axis=0)
    mad = np.median(np.abs(x - med), axis=0)
    d = np.diff(x, axis=0)
    noise = MAD_TO_SD * np.median(np.abs(d - np.median(d, axis=0)), axis=0) / np.sqrt(2.0)
    p99 = np.percentile(x, 99, axis=0)
    stats = np.column_stack([skew, kurt, _ratio(std, MAD_TO_SD * mad), _ratio(std, noise), _ratio(p99 - med, noise)])
    acf = _autocorrelation_at(xc, m2, ACF_LAGS_S, fs)
    power = _relative_band_power(x, fs)

    z = _ratio(x - med, noise)
    unit, onset = _event_onsets(z)
    span = n_frames / fs
    bounds = np.searchsorted(unit, np.arange(n_units + 1))
    times = np.asarray(frame_times, dtype=np.float64)[onset]
    events = np.vstack([_event_statistics(times[bounds[i] : bounds[i + 1]], span, min_events) for i in range(n_units)])
    return np.hstack([stats, acf, power, events])


def calcium_features(rec: Recording, min_events: int) -> np.ndarray:
    """(neurons, features) of a calcium recording, in chunks of neurons (the traces may
    be a memory map larger than memory)."""
    traces = rec.traces
    n_frames, n_units = traces.shape
    fs = frame_rate(rec.frame_times)
    step = max(1, CHUNK_VALUES // n_frames)
    parts = [
        trace_features(np.asarray(traces[:, j : j + step], dtype=np.float64), rec.frame_times, fs, min_events)
        for j in range(0, n_units, step)
    ]
    return np.vstack(parts)


# --- the method ---------------------------------------------------------------------


class SingleNeuronFeatures(Params):
    """Hand-crafted single-neuron statistics (the list: docs/methods.md, "The controls").
    Parameters declared below (values: the presets of `baselines.FEATURES`).

    Unsupervised and untrained: ``fit`` only records the columns per modality;
    ``embed`` works the same with or without it.
    """

    min_spikes: int  # units with fewer spikes get the ISI/ACG fallback (0, ``few_spikes=1``)
    min_events: int  # calcium neurons with fewer events get the inter-event fallback
    waveforms: bool  # use waveform features when every embedded recording has waveforms

    def _with_waveforms(self, recordings: Sequence[Recording]) -> bool:
        return bool(self.waveforms) and all(r.waveforms is not None for r in recordings)

    def fit(
        self, recordings: Sequence[Recording], *, seed: int, labels: pd.Series | None = None
    ) -> SingleNeuronFeatures:
        """Nothing to learn; records ``feature_names_`` / ``n_features_`` per modality
        (the columns `embed` gives for these recordings). ``seed``, ``labels`` unused."""
        names: dict[str, list[str]] = {}
        for modality in sorted({r.modality for r in recordings}):
            group = [r for r in recordings if r.modality == modality]
            names[modality] = feature_names(modality, self._with_waveforms(group))
        self.feature_names_ = names
        self.n_features_ = {m: len(cols) for m, cols in names.items()}
        return self

    def embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        """One row per unit (index ``neuron_id``), columns ``feature_names(modality)``.
        All recordings must share one modality."""
        if not recordings:
            raise NeuronbenchError("features: embed needs at least one recording")
        modalities = sorted({r.modality for r in recordings})
        if len(modalities) != 1:
            raise NeuronbenchError(
                f"features: embed got recordings of several modalities {modalities}; embed one at a time"
            )
        modality = modalities[0]
        with_wf = modality == "spikes" and self._with_waveforms(recordings)
        columns = feature_names(modality, with_wf)
        blocks = []
        for rec in recordings:
            if modality == "spikes":
                blocks.append(spike_features(rec, self.min_spikes, with_wf))
            else:
                blocks.append(calcium_features(rec, self.min_events))
        index = pd.Index(np.concatenate([r.neuron_ids for r in recordings]), name="neuron_id")
        if index.has_duplicates:
            raise NeuronbenchError(f"features: duplicated neuron ids, e.g. {index[index.duplicated()][:3].tolist()}")
        values = np.vstack(blocks).astype(np.float64)
        values[~np.isfinite(values)] = 0.0  # last guard; the functions above are finite by construction
        return pd.DataFrame(values, index=index, columns=columns)
