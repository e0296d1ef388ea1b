"""The population-coupling control (baselines/population.py) on hand-made recordings
with known co-variation."""

from __future__ import annotations

import numpy as np
import pytest

from neuronbench_baselines import POPULATION, population
from neuronbench_baselines.population import COLUMNS, window_statistics
from neuronbench.errors import NeuronbenchError
from tests.test_controls import calcium_recording, spikes_recording

T = 200.0


def coupling(**changes):
    """The population control of the ``cpu`` preset, with ``changes``."""
    return POPULATION.build(POPULATION.config("cpu", **changes))


def modulated(rate_fn, rng: np.random.Generator) -> np.ndarray:
    """An inhomogeneous Poisson train of rate ``rate_fn(t)`` (Hz) on [0, T), by thinning."""
    peak = 40.0
    t = np.cumsum(rng.exponential(1 / peak, size=int(peak * T * 1.3)))
    t = t[t < T]
    return t[rng.random(len(t)) < rate_fn(t) / peak]


@pytest.fixture(scope="module")
def groups():
    """Units 0-4 follow a shared 1 Hz drive, 5-9 a shared 0.2 Hz drive, 10-11 nothing."""
    rng = np.random.default_rng(0)
    fast = lambda t: 10 + 8 * np.sin(2 * np.pi * 1.0 * t)  # noqa: E731
    slow = lambda t: 10 + 8 * np.sin(2 * np.pi * 0.2 * t + 1.0)  # noqa: E731
    flat = lambda t: np.full_like(t, 10.0)  # noqa: E731
    trains = [modulated(f, rng) for f in [fast] * 5 + [slow] * 5 + [flat] * 2]
    return spikes_recording(trains, rec="g0", t_stop=T)


def test_columns_index_and_known_structure(groups) -> None:
    table = coupling(top_k=4).fit([groups], seed=0).embed([groups])
    assert list(table.columns) == list(COLUMNS) and table.index.name == "neuron_id"
    assert list(table.index) == list(groups.neuron_ids) and np.isfinite(table.to_numpy()).all()
    fast, slow, flat = table.iloc[:5], table.iloc[5:10], table.iloc[10:]
    # grouped units co-vary with their partners; independent ones do not
    assert fast["top_corr"].min() > 0.15 and slow["top_corr"].min() > 0.15
    assert flat["top_corr"].max() < 0.1 and flat["pop_corr"].abs().max() < 0.1
    # the partner signal carries the group's rhythm: 1 Hz vs 0.2 Hz
    assert (fast["band_0.8_1.2hz"] > fast["band_0.1_0.3hz"]).all()
    assert (slow["band_0.1_0.3hz"] > slow["band_0.8_1.2hz"]).all()


def test_window_statistics_equal_a_direct_computation() -> None:
    rng = np.random.default_rng(1)
    x = rng.poisson(2.0, size=(400, 6)).astype(float)
    x[:, 1] += x[:, 0]  # units 0 and 1 correlated
    stats = window_statistics(x, 0.1, top_k=2)
    c = np.corrcoef(x.T)
    np.fill_diagonal(c, np.nan)
    np.testing.assert_allclose(stats[:, 0], np.nanmean(c, axis=1), atol=1e-12)
    np.testing.assert_allclose(stats[:, 1], -np.sort(-np.nan_to_num(c, nan=-9), axis=1)[:, :2].mean(1), atol=1e-12)
    for i in range(6):
        others = np.delete(x, i, axis=1)
        rest = ((others - others.mean(0)) / others.std(0)).mean(1)
        np.testing.assert_allclose(stats[i, 2], np.corrcoef(x[:, i], rest)[0, 1], atol=1e-12)
    # relative band powers: logs of fractions that sum to 1 over the bands
    np.testing.assert_allclose(np.exp(stats[:, 3:]).sum(1), 1.0, atol=1e-9)


def test_silent_units_single_unit_and_windows(groups) -> None:
    silent = spikes_recording([np.array([]), np.array([]), np.array([1.0, 2.0])], rec="s0", t_stop=T)
    table = coupling().embed([silent])
    assert np.isfinite(table.to_numpy()).all()
    assert (table.iloc[:2, :3] == 0).all().all()  # zero variance: no correlation
    assert (coupling().embed([spikes_recording([np.array([1.0])], rec="one", t_stop=T)]) == 0).all().all()
    # windows: the mean of the per-window statistics; a window longer than the recording is one window
    x = np.vstack([np.histogram(groups.spike_times[a:b], bins=2000, range=(0, T))[0]
                   for a, b in zip(groups.spike_offsets[:-1], groups.spike_offsets[1:])]).T.astype(float)
    windowed = coupling(window_s=50.0).embed([groups]).to_numpy()
    expected = np.mean([window_statistics(x[s : s + 500], 0.1, 10) for s in range(0, 2000, 500)], axis=0)
    np.testing.assert_allclose(windowed, expected, atol=1e-10)
    np.testing.assert_allclose(coupling(window_s=500.0).embed([groups]).to_numpy(),
                               coupling().embed([groups]).to_numpy())


def test_partner_signals_in_chunks_equal_all_at_once(groups, monkeypatch) -> None:
    whole = coupling().embed([groups]).to_numpy()
    monkeypatch.setattr(population, "CHUNK_UNITS", 5)  # 12 units: chunks of 5, 5, 2
    np.testing.assert_allclose(coupling().embed([groups]).to_numpy(), whole, rtol=1e-12, atol=1e-12)


def test_calcium_bands_above_nyquist_are_zero_and_deterministic() -> None:
    rng = np.random.default_rng(2)
    shared = np.convolve(rng.standard_normal(2000), np.ones(8) / np.sqrt(8), mode="same")
    traces = 0.5 * shared[:, None] + rng.standard_normal((2000, 8))
    rec = calcium_recording(traces, fs=4.0)
    table = coupling().embed([rec])
    assert (table["band_3_5hz"] == 0).all() and np.isfinite(table.to_numpy()).all()
    assert table["pop_corr"].min() > 0.1
    np.testing.assert_array_equal(coupling().embed([rec]).to_numpy(), table.to_numpy())


def test_bad_input() -> None:
    with pytest.raises(NeuronbenchError, match="at least one recording"):
        coupling().embed([])
    with pytest.raises(NeuronbenchError, match="bin_s > 0"):
        coupling(bin_s=0.0).embed([spikes_recording([np.array([1.0])], t_stop=T)])
