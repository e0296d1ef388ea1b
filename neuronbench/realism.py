"""A realism audit of spike recordings, measured as an experimenter would, from the
canonical `Recording` objects alone (spikes, waveforms, behaviour, epochs, labels): no
access to any simulation internals, so the same numbers can be taken from real data.

`audit` returns one nested, JSON-able dict with, per region where it applies:

1. ``rates``: median firing rate, silent units (0 spikes), units below 0.1 Hz.
2. ``refractory``: share of ISIs below 1.5 ms, units with more than 1 % of them, ISIs
   below 1 ms and the shortest ISI (per subclass and per lab too, where labelled).
3. ``correlation``: Pearson spike-count correlation of pairs of units of the same
   recording (100 ms and 1 s bins), within-region vs across-region pairs; and
   ``running_correlation``: per region, the correlation of its summed rate with running
   speed (1 s bins).
4. ``rhythms``: per band and region, spike-phase locking to the phase of the band-passed
   summed 5 ms counts of the region's *other* units (leave-one-out; no true phase), also
   as the excess over the same locking in the flanking bands, and the band power of the
   region's population rate relative to its flanking bands, inside vs outside the
   band's state.
5. ``probes``: cross-validated, class-balanced logistic regression macro-F1 for cell class
   from timing features only, waveform features only, trough-to-peak width alone; for
   region from each single feature alone (the best one reported).
6. ``type_mix``: inhibitory share and subclass fractions per region.
7. ``labs``: per lab, units per recording, median rate, waveform trough depth and
   trough-to-peak, share of ISIs below 1.5 ms (only when a ``lab`` label exists).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.signal import butter, hilbert, sosfiltfilt
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuronbench.data.binning import bin_spikes
from neuronbench.data.recording import Recording
from neuronbench.errors import NeuronbenchError

REFRACTORY_S = 0.0015
VIOLATION_UNIT_FRACTION = 0.01  # a unit "violates" above 1 % of its ISIs below REFRACTORY_S
LOW_RATE_HZ = 0.1
CORRELATION_BINS_S: tuple[float, ...] = (0.1, 1.0)
RUNNING_BIN_S = 1.0
PHASE_BIN_S = 0.005  # 5 ms counts for the rhythm analyses (Nyquist 100 Hz)
RUNNING_CM_S = 2.0  # running above this speed, at rest at or below it
MIN_STATE_SPIKES = 50
RAYLEIGH_P = 0.01
POWER_WINDOW_S = 2.0
STATES: tuple[str, ...] = ("all", "running", "rest", "gratings", "not_gratings")
# band name -> (low Hz, high Hz, state, contrasting state)
BANDS: dict[str, tuple[float, float, str, str]] = {
    "theta_running": (6.0, 9.0, "running", "rest"),
    "theta_rest": (6.0, 9.0, "rest", "running"),
    "spindle_rest": (9.0, 15.0, "rest", "running"),
    "gamma_gratings": (25.0, 35.0, "gratings", "not_gratings"),
}
ACG_EDGES_S: np.ndarray = np.logspace(-3, 0, 11)
ISI_QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
TIMING_FEATURES: tuple[str, ...] = (
    "log_rate", "isi_cv", "isi_cv2", "isi_lv", *(f"log_isi_q{int(q * 100):02d}" for q in ISI_QUANTILES),
    "isi_frac_lt5ms", "isi_frac_lt10ms",
    *(f"acg_{lo * 1e3:.0f}_{hi * 1e3:.0f}ms" for lo, hi in itertools.pairwise(ACG_EDGES_S)),
)
WAVEFORM_FEATURES: tuple[str, ...] = ("trough_to_peak_ms", "peak_trough_ratio", "trough_halfwidth_ms")


# ----------------------------------------------------------------------------- inputs

def _check(recordings: Sequence[Recording]) -> None:
    if not recordings:
        raise NeuronbenchError("realism audit: no recordings given")
    for rec in recordings:
        name = f"recording {rec.dataset}/{rec.recording}"
        if rec.modality != "spikes":
            raise NeuronbenchError(f"{name}: field 'modality': expected 'spikes', got {rec.modality!r}")
        if rec.labels is None or "region" not in rec.labels.columns:
            raise NeuronbenchError(f"{name}: field 'labels': expected a 'region' column (labels are needed)")


def _label(rec: Recording, column: str) -> np.ndarray:
    if rec.labels is None or column not in rec.labels.columns:
        return np.full(rec.n_units, None, dtype=object)
    return rec.labels[column].to_numpy(dtype=object)


def _has(recordings: Sequence[Recording], column: str) -> bool:
    return all(r.labels is not None and column in r.labels.columns for r in recordings)


def trough_to_peak_ms(waveforms: np.ndarray, rate: float) -> np.ndarray:
    """Per waveform, the time (ms) from the trough to the largest sample after it."""
    w = np.asarray(waveforms, dtype=np.float64)
    trough = w.argmin(axis=1)
    after = np.where(np.arange(w.shape[1]) >= trough[:, None], w, -np.inf)
    return (after.argmax(axis=1) - trough) / rate * 1000.0


def waveform_features(waveforms: np.ndarray, rate: float) -> np.ndarray:
    """(units, `WAVEFORM_FEATURES`): trough-to-peak (ms), peak/trough ratio, trough
    half-width (ms: samples below half the trough depth), baseline = median sample."""
    w = np.asarray(waveforms, dtype=np.float64)
    w = w - np.median(w, axis=1, keepdims=True)
    depth = np.maximum(-w.min(axis=1), 1e-12)
    after = np.where(np.arange(w.shape[1]) >= w.argmin(axis=1)[:, None], w, -np.inf)
    halfwidth = (w < -depth[:, None] / 2).sum(axis=1) / rate * 1000.0
    return np.column_stack([trough_to_peak_ms(w, rate), np.maximum(after.max(axis=1), 0.0) / depth, halfwidth])


def unit_table(recordings: Sequence[Recording]) -> pd.DataFrame:
    """One row per unit: ids, labels (region, cell_class, subclass, lab; None where
    unlabelled), spike count and rate, ISI counts below 1 and 1.5 ms, the shortest ISI,
    and the waveform's trough depth (uV below the median sample) and trough-to-peak (ms)."""
    rows = []
    for rec in recordings:
        if rec.waveforms is not None:
            w = np.asarray(rec.waveforms, dtype=np.float64)
            depth, ttp = np.median(w, axis=1) - w.min(axis=1), trough_to_peak_ms(w, rec.waveform_rate)
        else:
            depth = ttp = np.full(rec.n_units, np.nan)
        for i in range(rec.n_units):
            s = np.asarray(rec.unit_spikes(i), dtype=np.float64)
            isi = np.diff(s)
            rows.append((rec.recording, rec.animal, s.size, isi.size, int(np.sum(isi < REFRACTORY_S)),
                         int(np.sum(isi < 0.001)), float(isi.min()) if isi.size else np.nan,
                         depth[i], ttp[i], s.size / rec.duration))
    table = pd.DataFrame(rows, columns=["recording", "animal", "n_spikes", "n_isi", "n_isi_lt_1_5ms", "n_isi_lt_1ms",
                                        "min_isi_s", "trough_depth_uv", "trough_to_peak_ms", "rate_hz"])
    for column in ("region", "cell_class", "subclass", "lab"):
        table[column] = np.concatenate([_label(r, column) for r in recordings])
    return table


# ----------------------------------------------------------------------------- 1, 2, 6, 7

def rates(units: pd.DataFrame) -> dict:
    """Median rate (Hz) overall and per region; units with no spike and below `LOW_RATE_HZ`."""
    return {"median_hz": float(units["rate_hz"].median()),
            "median_hz_by_region": {str(g): float(v) for g, v in units.groupby("region")["rate_hz"].median().items()},
            "n_units": len(units),
            "n_silent": int((units["n_spikes"] == 0).sum()),
            "n_below_0_1hz": int((units["rate_hz"] < LOW_RATE_HZ).sum())}


def _pct_short(units: pd.DataFrame) -> float:
    return float(100.0 * units["n_isi_lt_1_5ms"].sum() / max(units["n_isi"].sum(), 1))


def refractory(units: pd.DataFrame) -> dict:
    """ISIs below 1.5 ms (% of all ISIs), units with more than 1 % of their ISIs below it,
    ISIs below 1 ms, the shortest ISI (ms), and the % per subclass and per lab where known."""
    frac = units["n_isi_lt_1_5ms"] / units["n_isi"].clip(lower=1)
    out = {"pct_isi_lt_1_5ms": _pct_short(units),
           "n_units_over_1pct": int((frac > VIOLATION_UNIT_FRACTION).sum()),
           "n_isi_lt_1ms": int(units["n_isi_lt_1ms"].sum()),
           "shortest_isi_ms": float(units["min_isi_s"].min() * 1000.0)}
    for column in ("subclass", "lab"):
        if units[column].notna().any():
            out[f"pct_isi_lt_1_5ms_by_{column}"] = {str(k): _pct_short(g) for k, g in units.groupby(column)}
    return out


def type_mix(units: pd.DataFrame) -> dict:
    """Per region: units, inhibitory share and subclass fractions (where labelled)."""
    out = {}
    for region, g in units.groupby("region"):
        entry: dict = {"n_units": len(g)}
        if g["cell_class"].notna().any():
            entry["inhibitory_share"] = float((g["cell_class"] == "inhibitory").mean())
        if g["subclass"].notna().any():
            entry["subclass_fractions"] = {str(k): float(v) for k, v in
                                           g["subclass"].value_counts(normalize=True).sort_index().items()}
        out[str(region)] = entry
    return out


def labs(units: pd.DataFrame) -> dict:
    """Per lab: recordings, units per recording, median rate, median trough depth and
    trough-to-peak, % ISIs below 1.5 ms. Empty without a ``lab`` label."""
    out = {}
    for lab, g in units[units["lab"].notna()].groupby("lab"):
        n_rec = g["recording"].nunique()
        out[str(lab)] = {"n_recordings": int(n_rec), "units_per_recording": float(len(g) / n_rec),
                         "median_rate_hz": float(g["rate_hz"].median()),
                         "median_trough_depth_uv": float(g["trough_depth_uv"].median()),
                         "median_trough_to_peak_ms": float(g["trough_to_peak_ms"].median()),
                         "pct_isi_lt_1_5ms": _pct_short(g)}
    return out


# ----------------------------------------------------------------------------- 3

def binned_counts(rec: Recording, bin_s: float) -> np.ndarray:
    """Spike counts (bins, units) in whole bins of ``bin_s`` from t_start."""
    return bin_spikes(rec, bin_s).T.astype(np.float64)


def count_correlations(recordings: Sequence[Recording], bin_s: float) -> dict:
    """Mean Pearson correlation of spike counts over pairs of units of the same recording,
    within-region and across-region pairs pooled over recordings (units without spikes
    or without a region left out), and the ratio within / across."""
    within, across = [], []
    for rec in recordings:
        x = binned_counts(rec, bin_s)
        ok = (x.std(axis=0) > 0) & pd.notna(_label(rec, "region"))
        if ok.sum() < 2:
            continue
        c = np.corrcoef(x[:, ok], rowvar=False)
        region = _label(rec, "region")[ok]
        iu = np.triu_indices(int(ok.sum()), 1)
        same = region[iu[0]] == region[iu[1]]
        within.append(c[iu][same])
        across.append(c[iu][~same])
    w = np.concatenate(within) if within else np.empty(0)
    a = np.concatenate(across) if across else np.empty(0)
    mw = float(w.mean()) if w.size else None
    ma = float(a.mean()) if a.size else None
    return {"bin_s": bin_s, "within": mw, "across": ma, "ratio": mw / ma if mw is not None and ma else None,
            "n_within_pairs": int(w.size), "n_across_pairs": int(a.size)}


def running_correlation(recordings: Sequence[Recording], bin_s: float = RUNNING_BIN_S) -> dict:
    """Per region, the Pearson correlation of the region's summed spike count with the
    mean running speed in bins of ``bin_s``, averaged over the recordings with running
    speed (empty when none has it)."""
    by_region: dict = {}
    for rec in recordings:
        beh = rec.behaviour
        if beh is None or "running_speed" not in beh.columns or beh["running_speed"].std() == 0:
            continue
        x = binned_counts(rec, bin_s)
        b = np.floor((beh["time"].to_numpy(float) - rec.t_start) / bin_s).astype(np.int64)
        ok = (b >= 0) & (b < len(x))
        sums = np.bincount(b[ok], weights=beh["running_speed"].to_numpy(float)[ok], minlength=len(x))
        seen = np.bincount(b[ok], minlength=len(x))
        speed = np.divide(sums, seen, out=np.full(len(x), np.nan), where=seen > 0)
        keep = np.isfinite(speed)
        region = _label(rec, "region")
        for g in sorted({str(v) for v in region if v is not None}):
            rate = x[keep][:, region == g].sum(axis=1)
            if rate.std() > 0:
                by_region.setdefault(g, []).append(float(np.corrcoef(rate, speed[keep])[0, 1]))
    return {"bin_s": bin_s, "by_region": {g: float(np.mean(v)) for g, v in sorted(by_region.items())}}


# ----------------------------------------------------------------------------- 4

def state_mask(rec: Recording, n_bins: int, state: str, bin_s: float = PHASE_BIN_S) -> np.ndarray:
    """Bins (centres from t_start) in a state: ``all``, ``running`` (running_speed >
    `RUNNING_CM_S`), ``rest`` (at or below it), ``gratings`` / ``not_gratings`` (inside a
    'gratings' epoch or not). All False when the recording lacks what the state needs."""
    t = rec.t_start + (np.arange(n_bins) + 0.5) * bin_s
    if state == "all":
        return np.ones(n_bins, dtype=bool)
    if state in ("running", "rest"):
        beh = rec.behaviour
        if beh is None or "running_speed" not in beh.columns or len(beh) < 2:
            return np.zeros(n_bins, dtype=bool)
        speed = np.interp(t, beh["time"].to_numpy(float), beh["running_speed"].to_numpy(float))
        return speed > RUNNING_CM_S if state == "running" else speed <= RUNNING_CM_S
    if state not in ("gratings", "not_gratings"):
        raise NeuronbenchError(f"realism: unknown state {state!r}; expected one of {STATES}")
    inside = np.zeros(n_bins, dtype=bool)
    for start, stop, kind in rec.epochs[["start", "stop", "stimulus"]].itertuples(index=False):
        if kind == "gratings":
            inside |= (t >= start) & (t < stop)
    if state == "gratings":
        return inside
    return ~inside if inside.any() else np.zeros(n_bins, dtype=bool)


def vector_length(counts: np.ndarray, phase: np.ndarray) -> tuple[float, float, int]:
    """(resultant vector length, Rayleigh p, n spikes) of spikes given as counts per bin
    at the bins' phases; p by Zar's approximation (Biostatistical Analysis, eq. 27.4)."""
    n = int(counts.sum())
    if n == 0:
        return float("nan"), 1.0, 0
    resultant = float(np.abs(np.sum(counts * np.exp(1j * phase))))
    p = float(np.exp(np.sqrt(1.0 + 4.0 * n + 4.0 * (n * n - resultant * resultant)) - (1.0 + 2.0 * n)))
    return resultant / n, min(p, 1.0), n


def band_phases(counts: np.ndarray, members: np.ndarray, band: tuple[float, float], bin_s: float = PHASE_BIN_S
                ) -> np.ndarray:
    """(bins, len(members)): for each member, the phase of the band-passed (Butterworth
    order 3, zero-phase) summed counts of the OTHER members (leave-one-out)."""
    sos = butter(3, band, btype="band", fs=1.0 / bin_s, output="sos")
    x = counts[:, members]
    # band-pass and Hilbert transform are linear: transform the sum once and each unit once
    total = hilbert(sosfiltfilt(sos, x.sum(axis=1)))
    own = hilbert(sosfiltfilt(sos, x, axis=0), axis=0)
    return np.angle(total[:, None] - own)


def band_power_ratio(signal: np.ndarray, mask: np.ndarray, band: tuple[float, float],
                     bin_s: float = PHASE_BIN_S, window_s: float = POWER_WINDOW_S) -> float | None:
    """Mean power in ``band`` over the mean power in the two flanking bands of the same
    width, from Hann-windowed periodograms of the non-overlapping windows that lie wholly
    inside ``mask``; None when no window does."""
    m = round(window_s / bin_s)
    n_win = len(signal) // m
    full = mask[: n_win * m].reshape(n_win, m).all(axis=1)
    if not full.any():
        return None
    seg = np.asarray(signal[: n_win * m], dtype=np.float64).reshape(n_win, m)[full]
    seg = (seg - seg.mean(axis=1, keepdims=True)) * np.hanning(m)
    power = (np.abs(np.fft.rfft(seg, axis=1)) ** 2).mean(axis=0)
    f = np.fft.rfftfreq(m, bin_s)
    lo, hi = band
    width = hi - lo
    inside = (f >= lo) & (f <= hi)
    flank = ((f >= lo - width) & (f < lo)) | ((f > hi) & (f <= hi + width))
    ref = power[flank].mean()
    return float(power[inside].mean() / ref) if ref > 0 else None


def _median(v: list) -> float | None:
    return float(np.median(v)) if v else None


def flanks(band: tuple[float, float]) -> tuple[tuple[float, float], tuple[float, float]]:
    """The two bands of the same width just below and just above ``band`` (Hz)."""
    lo, hi = band
    width = hi - lo
    return (max(lo - width, 0.5), lo), (hi, hi + width)


def rhythms(recordings: Sequence[Recording], bands: dict[str, tuple[float, float, str, str]] = BANDS,
            min_spikes: int = MIN_STATE_SPIKES) -> dict:
    """Per band and region, in the band's state and in its contrasting state, over the
    units with ``min_spikes`` spikes in that state, each against the phase of its
    region's other units: the median spike-phase vector length, the fraction of units
    locked (Rayleigh p < `RAYLEIGH_P`), and the median excess of a unit's vector length
    over its mean vector length in the two `flanks` (co-variation of a unit with its
    region locks it to every band a little; a rhythm only to its own); and the
    population rate's relative band power (`band_power_ratio`, median over recordings)
    in each state and their quotient."""
    lengths: dict = {}
    excess: dict = {}
    locked: dict = {}
    power: dict = {}
    regions: set[str] = set()
    for rec in recordings:
        x = binned_counts(rec, PHASE_BIN_S)
        region = _label(rec, "region")
        masks = {s: state_mask(rec, len(x), s) for s in STATES}
        for g in sorted({str(v) for v in region if v is not None}):
            regions.add(g)
            members = np.flatnonzero(region == g)
            if members.size < 2:
                continue
            population = x[:, members].sum(axis=1)
            phases: dict = {}
            for name, (lo, hi, state, other) in bands.items():
                for b in ((lo, hi), *flanks((lo, hi))):
                    if b not in phases:
                        phases[b] = band_phases(x, members, b)
                for key, m in (("inside", masks[state]), ("outside", masks[other])):
                    for k, i in enumerate(members):
                        vl, p, n = vector_length(x[m, i], phases[(lo, hi)][m, k])
                        if n >= min_spikes:
                            side = np.mean([vector_length(x[m, i], phases[f][m, k])[0] for f in flanks((lo, hi))])
                            lengths.setdefault((name, g, key), []).append(vl)
                            excess.setdefault((name, g, key), []).append(vl - side)
                            locked.setdefault((name, g, key), []).append(p < RAYLEIGH_P)
                    r = band_power_ratio(population, m, (lo, hi))
                    if r is not None:
                        power.setdefault((name, g, key), []).append(r)
    out: dict = {}
    for name, (lo, hi, state, other) in bands.items():
        entry: dict = {"band_hz": [lo, hi], "state": state, "contrast": other,
                       "flanks_hz": [list(f) for f in flanks((lo, hi))], "by_region": {}}
        for g in sorted(regions):
            v, w = lengths.get((name, g, "inside"), []), lengths.get((name, g, "outside"), [])
            pin, pout = _median(power.get((name, g, "inside"), [])), _median(power.get((name, g, "outside"), []))
            entry["by_region"][g] = {
                "n_units": len(v), "median_vector_length": _median(v),
                "median_excess_over_flanks": _median(excess.get((name, g, "inside"), [])),
                "fraction_locked": float(np.mean(locked[(name, g, "inside")])) if v else None,
                "n_units_contrast": len(w), "median_vector_length_contrast": _median(w),
                "median_excess_over_flanks_contrast": _median(excess.get((name, g, "outside"), [])),
                "fraction_locked_contrast": float(np.mean(locked[(name, g, "outside")])) if w else None,
                "power_ratio_inside": pin, "power_ratio_outside": pout,
                "power_inside_over_outside": pin / pout if pin is not None and pout else None}
        out[name] = entry
    return out


# ----------------------------------------------------------------------------- 5

def autocorrelogram(spikes: np.ndarray, duration: float, edges: np.ndarray = ACG_EDGES_S) -> np.ndarray:
    """Rate-normalised autocorrelogram at positive lags: ordered pairs per bin over the
    number expected for the same count of spikes placed uniformly on the recording."""
    n = len(spikes)
    if n < 2:
        return np.zeros(len(edges) - 1)
    below = np.array([(np.searchsorted(spikes, spikes + e) - np.arange(1, n + 1)).sum() for e in edges], float)
    a, b = edges[:-1], edges[1:]
    expected = n * (n - 1) / duration**2 * ((b - a) * duration - (b**2 - a**2) / 2)
    return np.diff(below) / expected


def timing_features(rec: Recording) -> np.ndarray:
    """(units, `TIMING_FEATURES`): log rate, ISI CV, CV2 (Holt et al. 1996), LV (Shinomoto
    et al. 2003), log-ISI quantiles, fractions of ISIs below 5 and 10 ms, and the
    autocorrelogram; NaN for a unit with fewer than 3 spikes."""
    rows = []
    for i in range(rec.n_units):
        s = np.asarray(rec.unit_spikes(i), dtype=np.float64)
        if s.size < 3:
            rows.append(np.full(len(TIMING_FEATURES), np.nan))
            continue
        isi = np.diff(s)
        ratio = np.diff(isi) / np.maximum(isi[1:] + isi[:-1], 1e-12)
        rows.append(np.array([np.log(s.size / rec.duration), isi.std() / isi.mean(), np.mean(2 * np.abs(ratio)),
                              3 * np.mean(ratio**2), *np.quantile(np.log(np.maximum(isi, 1e-5)), ISI_QUANTILES),
                              np.mean(isi < 0.005), np.mean(isi < 0.010), *autocorrelogram(s, rec.duration)]))
    return np.vstack(rows)


def cv_macro_f1(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, folds: int = 5) -> float:
    """Cross-validated macro-F1 of a class-balanced logistic regression on standardised
    features (a missing value: its column's median), stratified folds, grouped (e.g. by
    animal) when ``groups`` has at least ``folds`` distinct values."""
    x = np.asarray(x, dtype=np.float64).reshape(len(y), -1)
    x = np.where(np.isnan(x), np.nanmedian(x, axis=0), x)
    if groups is not None and len(set(groups)) >= folds:
        cv, kw = StratifiedGroupKFold(folds, shuffle=True, random_state=0), {"groups": groups}
    else:
        cv, kw = StratifiedKFold(folds, shuffle=True, random_state=0), {}
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))
    pred = cross_val_predict(model, x, y, cv=cv, **kw)
    return float(f1_score(y, pred, average="macro"))


def probes(recordings: Sequence[Recording], folds: int = 5, group_by_animal: bool = True) -> dict:
    """Cell class from timing features only, waveform features only, width alone (and
    both); region from each single feature alone, the best reported. Folds grouped by
    animal when asked and there are at least ``folds`` animals (``grouped_by_animal``)."""
    timing = np.vstack([timing_features(r) for r in recordings])
    animals = np.concatenate([[r.animal] * r.n_units for r in recordings])
    groups = animals if group_by_animal and len(set(animals)) >= folds else None
    with_wf = all(r.waveforms is not None for r in recordings)
    wave = (np.vstack([waveform_features(r.waveforms, r.waveform_rate) for r in recordings]) if with_wf
            else np.empty((len(timing), 0)))
    out: dict = {"folds": folds, "grouped_by_animal": groups is not None}
    if _has(recordings, "cell_class"):
        y = np.concatenate([_label(r, "cell_class") for r in recordings]).astype(str)
        cell = {"timing_only": cv_macro_f1(timing, y, groups, folds)}
        if with_wf:
            cell["waveform_only"] = cv_macro_f1(wave, y, groups, folds)
            cell["width_only"] = cv_macro_f1(wave[:, 0], y, groups, folds)
            cell["timing_and_waveform"] = cv_macro_f1(np.hstack([timing, wave]), y, groups, folds)
        out["cell_class"] = cell
    y = np.concatenate([_label(r, "region") for r in recordings]).astype(str)
    names = list(TIMING_FEATURES) + (list(WAVEFORM_FEATURES) if with_wf else [])
    both = np.hstack([timing, wave])
    single = {name: cv_macro_f1(both[:, k], y, groups, folds) for k, name in enumerate(names)}
    best = max(single, key=single.get)
    out["region"] = {"chance_uniform": 1.0 / len(set(y)), "best_single_feature": best,
                     "best_single_feature_f1": single[best], "single_feature_f1": single}
    return out


# ----------------------------------------------------------------------------- all

def audit(recordings: Sequence[Recording], *, with_probes: bool = True, group_by_animal: bool = True) -> dict:
    """Every measure of the module docstring, on spike recordings with a ``region`` label."""
    _check(recordings)
    units = unit_table(recordings)
    out = {"n_recordings": len(recordings), "n_animals": len({r.animal for r in recordings}),
           "n_units": len(units),
           "rates": rates(units),
           "refractory": refractory(units),
           "correlation": {f"{b:g}s": count_correlations(recordings, b) for b in CORRELATION_BINS_S},
           "running_correlation": running_correlation(recordings),
           "rhythms": rhythms(recordings),
           "type_mix": type_mix(units),
           "labs": labs(units)}
    if with_probes:
        out["probes"] = probes(recordings, group_by_animal=group_by_animal)
    return out
