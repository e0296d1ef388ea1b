"""The controls (baselines/features.py, baselines/random_embedding.py) on tiny hand-made
recordings with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuronbench_baselines.features import (
    ACG_COLUMNS,
    CALCIUM_COLUMNS,
    SPIKE_COLUMNS,
    WAVEFORM_COLUMNS,
    autocorrelogram,
    waveform_features,
)
from neuronbench_baselines import FEATURES
from neuronbench_baselines.random_embedding import RandomEmbedding
from neuronbench.data.recording import EPOCH_COLUMNS, Recording, neuron_id
from neuronbench.errors import NeuronbenchError

T_STOP = 200.0
WF_RATE = 30_000.0


def features_control(**changes):
    """The features control of the ``cpu`` preset, with ``changes``."""
    return FEATURES.build(FEATURES.config("cpu", **changes))


def _neurons(dataset: str, rec: str, n: int) -> pd.DataFrame:
    units = [str(u) for u in range(n)]
    return pd.DataFrame(
        {
            "neuron_id": [neuron_id(dataset, rec, u) for u in units],
            "unit": units,
            "track_id": [None] * n,
            "x": np.nan,
            "y": np.nan,
            "z": np.nan,
        }
    )


def spikes_recording(
    trains: list[np.ndarray], rec: str = "r0", t_stop: float = T_STOP, waveforms: np.ndarray | None = None
) -> Recording:
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in trains])]).astype(np.int64)
    return Recording(
        dataset="toy",
        animal="a0",
        recording=rec,
        modality="spikes",
        neurons=_neurons("toy", rec, len(trains)),
        t_start=0.0,
        t_stop=t_stop,
        epochs=pd.DataFrame(columns=list(EPOCH_COLUMNS)),
        spike_times=np.concatenate(trains).astype(np.float64),
        spike_offsets=offsets,
        waveforms=waveforms,
        waveform_rate=WF_RATE if waveforms is not None else None,
    ).validate()


def calcium_recording(traces: np.ndarray, fs: float, rec: str = "c0") -> Recording:
    frame_times = np.arange(traces.shape[0]) / fs
    return Recording(
        dataset="toy",
        animal="a0",
        recording=rec,
        modality="calcium",
        neurons=_neurons("toy", rec, traces.shape[1]),
        t_start=0.0,
        t_stop=float(frame_times[-1] + 1 / fs),
        epochs=pd.DataFrame(columns=list(EPOCH_COLUMNS)),
        traces=traces.astype(np.float32),
        frame_times=frame_times,
    ).validate()


def poisson(rate: float, rng: np.random.Generator, t_stop: float = T_STOP, dead: float = 0.0) -> np.ndarray:
    isi = rng.exponential(1 / rate, size=int(rate * t_stop * 1.5) + 10) + dead
    t = np.cumsum(isi)
    return t[t < t_stop]


def bursting(rng: np.random.Generator) -> np.ndarray:
    """Bursts of 4 spikes 3 ms apart, burst onsets Poisson at 2 Hz."""
    onsets = poisson(2.0, rng, T_STOP - 0.1, dead=0.05)
    return (onsets[:, None] + 0.003 * np.arange(4)).ravel()


def synthetic_waveform(trough_at: int = 30, gap: int = 12, sigma: float = 3.0, ratio: float = 0.25) -> np.ndarray:
    """A Gaussian trough of depth 100 and a Gaussian peak ``gap`` samples later."""
    s = np.arange(90, dtype=np.float64)
    trough = -100 * np.exp(-((s - trough_at) ** 2) / (2 * sigma**2))
    return trough + 100 * ratio * np.exp(-((s - trough_at - gap) ** 2) / (2 * sigma**2))


@pytest.fixture(scope="module")
def spike_rec() -> Recording:
    rng = np.random.default_rng(0)
    trains = [
        poisson(20.0, rng),  # 0: Poisson
        bursting(rng),  # 1: bursting
        np.arange(0.05, T_STOP, 0.1),  # 2: periodic, 10 Hz
        poisson(10.0, rng, dead=0.003),  # 3: Poisson with a 3 ms refractory period
        np.array([1.0, 50.0, 120.0]),  # 4: too few spikes
    ]
    wf = synthetic_waveform()
    wfs = np.vstack([wf, -wf, synthetic_waveform(gap=20), wf, np.full(90, np.nan)])
    return spikes_recording(trains, waveforms=wfs)


@pytest.fixture(scope="module")
def spike_table(spike_rec: Recording) -> pd.DataFrame:
    return features_control().fit([spike_rec], seed=0).embed([spike_rec])


def test_spike_shape_index_and_finite(spike_rec: Recording, spike_table: pd.DataFrame) -> None:
    assert list(spike_table.index) == list(spike_rec.neuron_ids)
    assert spike_table.index.name == "neuron_id"
    assert list(spike_table.columns) == list(SPIKE_COLUMNS) + list(WAVEFORM_COLUMNS)
    assert len(ACG_COLUMNS) == 10 and ACG_COLUMNS[0] == "acg_1_2ms" and ACG_COLUMNS[-1] == "acg_501_1000ms"
    assert all(dt == np.float64 for dt in spike_table.dtypes)
    assert np.isfinite(spike_table.to_numpy()).all()


def test_spike_known_values(spike_rec: Recording, spike_table: pd.DataFrame) -> None:
    t = spike_table.to_numpy()
    col = {c: i for i, c in enumerate(spike_table.columns)}
    counts = spike_rec.spike_counts()
    np.testing.assert_allclose(t[:, col["log_rate"]], np.log(counts / T_STOP))
    # periodic: CV = CV2 = LV = 0, every log-ISI quantile is log(0.1)
    periodic = t[2]
    for c in ("isi_cv", "isi_cv2", "isi_lv"):
        assert periodic[col[c]] == pytest.approx(0.0, abs=1e-9)
    quantiles = [col[f"log_isi_q{q}"] for q in ("05", "25", "50", "75", "95")]
    np.testing.assert_allclose(periodic[quantiles], np.log(0.1), atol=1e-9)
    # Poisson: CV, CV2, LV ~ 1, ACG ~ 1, P(ISI < 5 ms) = 1 - exp(-0.1)
    pois = t[0]
    for c in ("isi_cv", "isi_cv2", "isi_lv"):
        assert pois[col[c]] == pytest.approx(1.0, abs=0.07)
    acg = pois[[col[c] for c in ACG_COLUMNS]]
    assert np.abs(acg - 1).max() < 0.35 and acg.mean() == pytest.approx(1.0, abs=0.1)
    assert pois[col["isi_frac_lt5ms"]] == pytest.approx(1 - np.exp(-0.1), abs=0.02)
    # bursting: 3/4 of ISIs are 3 ms; strong ACG at 2-4 ms, CV > 1
    burst = t[1]
    assert burst[col["isi_frac_lt5ms"]] == pytest.approx(0.75, abs=0.01)
    assert burst[col["isi_frac_lt2ms"]] == 0.0
    assert burst[col["acg_2_4ms"]] > 20 and burst[col["isi_cv"]] > 1.5
    # refractory Poisson: no ISI < 2 ms and an empty first ACG bin
    assert t[3, col["isi_frac_lt2ms"]] == 0.0 and t[3, col["acg_1_2ms"]] == 0.0
    # too few spikes: flag set, ISI/ACG columns at the fallback 0
    few = t[4]
    assert few[col["few_spikes"]] == 1.0 and t[:4, col["few_spikes"]].sum() == 0
    assert np.all(few[1 : col["few_spikes"]] == 0)


def test_autocorrelogram_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    s = np.sort(np.concatenate([poisson(30.0, rng, 20.0), bursting(rng)[:40] / 10]))
    s = s[s < 20.0]
    lags = (s[None, :] - s[:, None])[np.triu_indices(len(s), 1)]
    edges = np.logspace(-3, 0, 11)
    counts = np.histogram(lags, bins=edges)[0]
    n, dur = len(s), 20.0
    expected = n * (n - 1) / dur**2 * ((edges[1:] - edges[:-1]) * dur - (edges[1:] ** 2 - edges[:-1] ** 2) / 2)
    np.testing.assert_allclose(autocorrelogram(s, dur, edges), counts / expected, rtol=1e-12)


def test_waveform_known_values(spike_table: pd.DataFrame) -> None:
    wf = spike_table[list(WAVEFORM_COLUMNS)].to_numpy()
    fwhm_ms = 2 * np.sqrt(2 * np.log(2)) * 3.0 / WF_RATE * 1e3
    np.testing.assert_allclose(wf[0], [12 / WF_RATE * 1e3, 0.25, fwhm_ms, 0.0], rtol=0.02)
    np.testing.assert_allclose(wf[1], wf[0])  # flipped polarity: same shape features
    assert wf[2, 0] == pytest.approx(20 / WF_RATE * 1e3)
    np.testing.assert_array_equal(wf[4], [0, 0, 0, 1])  # NaN waveform
    np.testing.assert_array_equal(waveform_features(np.zeros(50), WF_RATE), [0, 0, 0, 1])


def test_waveform_columns_only_if_every_recording_has_them(spike_rec: Recording) -> None:
    rng = np.random.default_rng(2)
    bare = spikes_recording([poisson(5.0, rng), poisson(8.0, rng)], rec="r1")
    model = features_control().fit([spike_rec, bare], seed=0)
    assert model.feature_names_["spikes"] == list(SPIKE_COLUMNS)
    both = model.embed([spike_rec, bare])
    assert list(both.columns) == list(SPIKE_COLUMNS) and len(both) == 7
    assert list(features_control(waveforms=False).embed([spike_rec]).columns) == list(SPIKE_COLUMNS)
    # a unit's features do not depend on the other recordings embedded with it
    alone = features_control().embed([bare])
    pd.testing.assert_frame_equal(both.loc[alone.index], alone)


def test_spikes_deterministic_and_unsorted_input(spike_rec: Recording, spike_table: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(features_control().embed([spike_rec]), spike_table)
    rng = np.random.default_rng(3)
    train = poisson(10.0, rng)
    a = features_control().embed([spikes_recording([train])])
    b = features_control().embed([spikes_recording([rng.permutation(train)])])
    pd.testing.assert_frame_equal(a, b)


@pytest.fixture(scope="module")
def calcium() -> tuple[Recording, np.ndarray]:
    fs, n = 10.0, 6000
    rng = np.random.default_rng(4)
    t = np.arange(n) / fs
    white = rng.standard_normal(n)
    # AR(1) with a 1 s time constant: acf(lag) = exp(-lag / 1 s)
    a = np.exp(-1 / fs)
    ar = np.zeros(n)
    eps = rng.standard_normal(n)
    for i in range(1, n):
        ar[i] = a * ar[i - 1] + eps[i]
    # 20 calcium transients, one every 30 s (1 dF/F, 1 s decay), small noise
    onsets = np.arange(5.0, 600.0, 30.0)
    transients = sum(np.where(t >= o, np.exp(-(t - o) / 1.0), 0.0) for o in onsets)
    events = transients + 0.02 * rng.standard_normal(n)
    flat = np.full(n, 0.3)
    traces = np.column_stack([white, ar, events, flat])
    return calcium_recording(traces, fs), onsets


def test_calcium_shape_finite_and_known_values(calcium: tuple[Recording, np.ndarray]) -> None:
    rec, onsets = calcium
    table = features_control().fit([rec], seed=0).embed([rec])
    assert list(table.columns) == list(CALCIUM_COLUMNS) and list(table.index) == list(rec.neuron_ids)
    assert np.isfinite(table.to_numpy()).all()
    white, ar, events, flat = (table.iloc[i] for i in range(4))
    assert white["skewness"] == pytest.approx(0, abs=0.1) and white["kurtosis"] == pytest.approx(0, abs=0.2)
    assert white["std_over_mad"] == pytest.approx(1, abs=0.05) and white["std_over_noise"] == pytest.approx(1, abs=0.05)
    assert abs(white["acf_100ms"]) < 0.05
    # white noise: relative band power proportional to band width (bands cover 0-5 Hz)
    bands = ["relpow_0_100mHz", "relpow_100_500mHz", "relpow_500_1500mHz", "relpow_1500_5000mHz"]
    np.testing.assert_allclose(white[bands], [0.02, 0.08, 0.2, 0.7], atol=0.02)
    lags = ["acf_100ms", "acf_400ms", "acf_1600ms"]
    np.testing.assert_allclose(ar[lags], np.exp(-np.array([0.1, 0.4, 1.6])), atol=0.08)
    assert ar["std_over_noise"] > 2
    # transients: every event found, evenly spaced
    assert events["log_event_rate"] == pytest.approx(np.log(len(onsets) / 600.0))
    assert events["iei_cv"] == pytest.approx(0, abs=0.01)
    assert events["log_iei_q50"] == pytest.approx(np.log(30.0), abs=0.01)
    assert events["skewness"] > 2 and events["few_events"] == 0
    # a constant trace: finite fallbacks
    assert flat["few_events"] == 1 and flat["skewness"] == 0 and flat["std_over_noise"] == 0


def test_calcium_scale_and_rate_invariance(calcium: tuple[Recording, np.ndarray]) -> None:
    rec, _ = calcium
    base = features_control().embed([rec]).to_numpy()
    scaled = calcium_recording(np.asarray(rec.traces, dtype=np.float64) * 7.0 + 2.0, 10.0)
    np.testing.assert_allclose(features_control().embed([scaled]).to_numpy(), base, rtol=1e-3, atol=1e-3)
    # the same 1 s AR(1) process at 30 Hz: acf at the same lags in seconds
    rng = np.random.default_rng(5)
    fs, n = 30.0, 30000
    a, eps, x = np.exp(-1 / fs), rng.standard_normal(n), np.zeros(n)
    for i in range(1, n):
        x[i] = a * x[i - 1] + eps[i]
    fast = features_control().embed([calcium_recording(x[:, None], fs)]).iloc[0]
    lags = ["acf_100ms", "acf_400ms", "acf_1600ms"]
    np.testing.assert_allclose(fast[lags], np.exp(-np.array([0.1, 0.4, 1.6])), atol=0.08)
    # at 3 Hz (Nyquist 1.5 Hz) the 1.5-5 Hz band is empty
    slow = features_control().embed([calcium_recording(x[::10, None], 3.0)]).iloc[0]
    assert slow["relpow_1500_5000mHz"] == 0.0 and slow[lags].between(0, 1).all()


def test_mixed_modalities_rejected(spike_rec: Recording, calcium: tuple[Recording, np.ndarray]) -> None:
    with pytest.raises(NeuronbenchError, match="modalities"):
        features_control().embed([spike_rec, calcium[0]])


def test_random_embedding(spike_rec: Recording, calcium: tuple[Recording, np.ndarray]) -> None:
    rec2 = calcium[0]
    model = RandomEmbedding(dim=8).fit([spike_rec], seed=1)
    table = model.embed([spike_rec, rec2])
    assert table.shape == (spike_rec.n_units + rec2.n_units, 8) and table.index.name == "neuron_id"
    assert list(table.index) == list(spike_rec.neuron_ids) + list(rec2.neuron_ids)
    assert np.isfinite(table.to_numpy()).all()
    # independent of order and subset; deterministic; different across seeds and neurons
    pd.testing.assert_frame_equal(model.embed([rec2, spike_rec]).loc[table.index], table)
    pd.testing.assert_frame_equal(model.embed([rec2]), table.loc[rec2.neuron_ids])
    pd.testing.assert_frame_equal(RandomEmbedding(dim=8).fit([], seed=1).embed([spike_rec, rec2]), table)
    other = RandomEmbedding(dim=8).fit([spike_rec], seed=2).embed([spike_rec, rec2])
    assert not np.allclose(other.to_numpy(), table.to_numpy())
    assert np.abs(np.corrcoef(table.to_numpy())[np.triu_indices(len(table), 1)]).max() < 0.999
    with pytest.raises(NeuronbenchError, match="fit"):
        RandomEmbedding(dim=8).embed([spike_rec])
