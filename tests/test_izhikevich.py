"""The Izhikevich (2003) simulation core: exact against a direct implementation, the
firing modes' signatures, chunking, coupling and noise."""

from __future__ import annotations

import numpy as np
import pytest

from neuronbench.data import izhikevich as iz


def reference(params: iz.IzhikevichParameters, current: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The model written out directly in (v, u): two 0.5 ms half-steps of v, reset, u step."""
    v, u = params.c.copy(), params.b * params.c
    spikes = []
    for k, i_k in enumerate(current):
        for _ in range(2):
            v = v + 0.5 * (0.04 * v * v + 5 * v + 140 - u + i_k)
        fired = np.flatnonzero(v >= iz.V_PEAK)
        v[fired] = params.c[fired]
        u[fired] += params.d[fired]
        u = u + params.a * (params.b * v - u)
        spikes += [(k, int(i)) for i in fired]
    return spikes, v


def test_matches_direct_implementation():
    rng = np.random.default_rng(0)
    params = iz.jitter_parameters(iz.mode_parameters(list(iz.FIRING_MODES) * 4), rng, a_sd=0.2, c_sd=2.0)
    current = 6.0 + 4.0 * rng.standard_normal((1500, params.n_neurons))
    spikes, v = reference(params, current)
    out = iz.simulate(params, 1500, current, dtype=np.float64)
    assert list(zip(out.steps.tolist(), out.neurons.tolist())) == spikes
    assert np.allclose(out.v, v, atol=1e-6)
    out32 = iz.simulate(params, 1500, current)  # float32: the same up to rare rounding flips
    assert abs(len(out32.steps) - len(spikes)) <= 0.02 * len(spikes)


def test_firing_mode_signatures():
    """Constant input I = 10 for 1 s (Izhikevich 2003, Fig. 2)."""
    modes = list(iz.FIRING_MODES)
    out = iz.simulate(iz.mode_parameters(modes), 1000, 10.0, dtype=np.float64)
    isi = {m: np.diff(out.steps[out.neurons == i]) for i, m in enumerate(modes)}
    rate = dict(zip(modes, out.rates_hz()))
    assert rate["FS"] > rate["RS"] and rate["LTS"] > rate["RS"]
    assert isi["RS"][0] < isi["RS"][-1]  # adaptation
    assert isi["IB"][0] < 8 and np.median(isi["IB"][2:]) > 20  # initial burst, then tonic
    assert (isi["CH"] <= 6).mean() > 0.5 and isi["CH"].max() > 30  # repeated bursts
    assert np.ptp(isi["FS"][2:]) <= 1  # fast, regular, no adaptation
    assert iz.simulate(iz.mode_parameters(modes), 1000, 0.0).steps.size == 0  # rest


def test_chunking_and_input_forms_agree():
    rng = np.random.default_rng(1)
    params = iz.mode_parameters(["RS", "CH", "FS"] * 3)
    current = (5.0 + 3.0 * rng.standard_normal((700, 9))).astype(np.float32)
    before = current.copy()
    a = iz.simulate(params, 700, current)
    b = iz.simulate(params, 700, lambda k0, m: current[k0 : k0 + m].copy(), chunk_steps=37)
    assert np.array_equal(a.steps, b.steps) and np.array_equal(a.neurons, b.neurons)
    assert np.array_equal(current, before)  # an input array is not modified
    with pytest.raises(ValueError):
        iz.simulate(params, 700, current[:, :5])
    with pytest.raises(ValueError):
        iz.mode_parameters(["RS", "XX"])


def test_matrix_coupling():
    params = iz.mode_parameters(["RS", "RS"])
    drive = np.array([10.0, 0.0])  # neuron 0 fires, neuron 1 rests
    w = np.array([[0.0, 0.0], [30.0, 0.0]])
    coupled = iz.simulate(params, 1000, drive, coupling=iz.MatrixCoupling(w))
    alone = iz.simulate(params, 1000, drive)
    assert alone.counts()[1] == 0 and coupled.counts()[1] > 0
    assert coupled.counts()[0] == alone.counts()[0]


def test_population_coupling():
    c = iz.PopulationCoupling(np.array([0, 0, 1, 1]), 2.0, tau_ms=10.0, source_weight=1.0)
    cur = c.current(np.array([0]))
    assert np.allclose(cur, [1.0, 1.0, 0.0, 0.0])  # weight 2 x one spike of a group of 2
    cur = c.current(np.zeros(0, dtype=np.int64))
    assert np.allclose(cur[:2], np.exp(-0.1)) and np.allclose(cur[2:], 0.0)
    # positive population coupling raises a group's rate
    params = iz.mode_parameters(["RS"] * 20)
    rng = np.random.default_rng(2)
    noise = iz.GaussianNoise(rng, np.full(20, 3.0))
    groups = np.repeat([0, 1], 10)
    weight = np.where(groups == 0, 8.0, 0.0)
    out = iz.simulate(params, 3000, lambda k0, m: 3.0 + noise(m),
                      coupling=iz.PopulationCoupling(groups, weight))
    rates = out.rates_hz()
    assert rates[:10].mean() > rates[10:].mean()


def test_gaussian_noise():
    rng = np.random.default_rng(3)
    scale = np.array([1.0, 2.0, 5.0])
    noise = iz.GaussianNoise(rng, scale, bank_rows=256, refresh_chunks=4)
    x = np.concatenate([noise(500) for _ in range(40)])
    assert x.shape == (20000, 3) and x.dtype == np.float32
    assert np.allclose(x.mean(0), 0.0, atol=0.1 * scale)
    assert np.allclose(x.std(0), scale, rtol=0.05)
    corr = np.corrcoef(x.T)
    assert np.abs(corr[np.triu_indices(3, 1)]).max() < 0.05
    lag1 = [np.corrcoef(x[:-1, i], x[1:, i])[0, 1] for i in range(3)]
    assert np.abs(lag1).max() < 0.05


def test_refractory_steps_hold_the_neuron_after_a_spike():
    """Chattering neurons driven hard fire on consecutive 1 ms steps in the published
    model; with one dead step they never do, and they still fire."""
    params = iz.mode_parameters(["CH"] * 20)
    current = np.linspace(20.0, 120.0, 20)
    free = iz.simulate(params, 2000, current)
    dead = iz.simulate(params, 2000, current, refractory_steps=1)

    def min_gap(raster: iz.SpikeRaster) -> int:
        return min(np.diff(np.sort(raster.steps[raster.neurons == i])).min() for i in range(20))

    assert min_gap(free) == 1 and min_gap(dead) == 2
    assert dead.counts().min() > 0
    with pytest.raises(ValueError, match="refractory_steps"):
        iz.simulate(params, 10, current, refractory_steps=-1)
