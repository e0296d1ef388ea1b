"""NEMO (baselines/nemo): the 3D ACG against a direct computation, the waveform
preparation, augmentations, loss, model, training, reproducibility and the harness."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from neuronbench_baselines.nemo import INFO
from neuronbench_baselines.nemo import acg as A
from neuronbench_baselines.nemo.augment import augment_acg, augment_waveforms, shift_lags, smooth_lags
from neuronbench_baselines.nemo.data import prepare_waveforms, unit_inputs
from neuronbench_baselines.nemo.loss import clip_loss
from neuronbench_baselines.nemo.method import NemoMethod, train
from neuronbench_baselines.nemo.model import Nemo
from neuronbench.protocol.datasets import load_dataset
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.record import iter_records
from neuronbench.runner import GridOptions, run_grid
from tests.conftest import make_recording

SETTINGS = ["transductive", "transductive-zero-shot", "inductive"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models on a shared 2-core machine: one torch thread avoids spin-waiting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- 3D ACG -----------------------------------------------------------------------------


def direct_rate(s: np.ndarray, i: int, window: float = A.RATE_WINDOW_S) -> float:
    """The boxcar mean of r(t) = 1 / (containing ISI) around spike i, ISI by ISI (an ISI of
    length 0 inside the window counts 1, the limit of a vanishing ISI)."""
    if len(s) < 2:
        return 0.0
    lo, hi = max(s[i] - window / 2, s[0]), min(s[i] + window / 2, s[-1])
    if hi <= lo:
        return 0.0
    total = 0.0
    for a, b in zip(s[:-1], s[1:]):
        if b > a:
            total += max(0.0, min(b, hi) - max(a, lo)) / (b - a)
        elif lo < a < hi:
            total += 1.0
    return total / (hi - lo)


def direct_acg(s: np.ndarray, t_start: float, t_stop: float) -> np.ndarray:
    """(10, 101): every step of the module docstring with loops and np.interp."""
    n = len(s)
    lin = np.zeros((A.N_DECILES, A.N_LINEAR_LAGS))
    if n:
        rates = [direct_rate(s, i) for i in range(n)]
        ranked = sorted(range(n), key=lambda i: (rates[i], i))
        decile = {i: A.N_DECILES * q // n for q, i in enumerate(ranked)}
        bins = [math.floor((x - t_start) / A.BIN_S) for x in s]
        triggers = np.zeros(A.N_DECILES)
        for i in range(n):
            if s[i] + 1.0 > t_stop:
                continue
            triggers[decile[i]] += 1
            for j in range(n):
                if 1 <= bins[j] - bins[i] <= A.N_LINEAR_LAGS:
                    lin[decile[i], bins[j] - bins[i] - 1] += 1
        lin = np.divide(lin, triggers[:, None], out=np.zeros_like(lin), where=triggers[:, None] > 0)
    log_lags = np.logspace(0, 3, A.N_LOG_LAGS)
    interp = np.array([np.interp(log_lags, np.arange(1, A.N_LINEAR_LAGS + 1), row) for row in lin])
    smooth = np.zeros_like(interp)
    for j in range(A.N_LOG_LAGS):
        near = [k for k in range(A.N_LOG_LAGS) if abs(k - j) <= 4]
        w = np.array([math.exp(-0.5 * (k - j) ** 2) for k in near])
        smooth[:, j] = interp[:, near] @ w / w.sum()
    return np.concatenate([np.zeros((A.N_DECILES, 1)), A.ACG_SCALE * smooth], axis=1)


def test_acg_equals_a_direct_computation():
    rng = np.random.default_rng(1)
    bursty = np.sort(np.concatenate([rng.uniform(0, 20, 150), rng.uniform(0, 19.9, 40) + 0.003]))
    dup = np.sort(np.concatenate([rng.uniform(0, 20, 60), [5.0, 5.0, 5.0004]]))  # same-bin spikes
    trains = [np.sort(rng.uniform(0, 20, 300)), np.array([]), np.array([3.0]), bursty, dup,
              np.array([0.5, 0.7, 19.9])]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in trains])])
    times = np.concatenate(trains)
    rates = A.spike_rates(times, offsets)
    np.testing.assert_allclose(rates, [direct_rate(s, i) for s in trains for i in range(len(s))], atol=1e-9)
    got = A.acg_3d(times, offsets, 0.0, 20.0)
    assert got.shape == (len(trains), 10, 101) and got.dtype == np.float32
    for u, s in enumerate(trains):
        np.testing.assert_allclose(got[u], direct_acg(s, 0.0, 20.0), atol=1e-5)


def test_acg_sorts_unsorted_units_and_chunks_pairs(monkeypatch):
    rng = np.random.default_rng(2)
    trains = [np.sort(rng.uniform(0, 30, 500)), np.sort(rng.uniform(0, 30, 200))]
    offsets = np.array([0, 500, 700])
    expected = A.acg_3d(np.concatenate(trains), offsets, 0.0, 30.0)
    shuffled = np.concatenate([rng.permutation(s) for s in trains])
    monkeypatch.setattr(A, "PAIRS_PER_CHUNK", 97)  # many chunks, split inside a trigger's pairs' range
    np.testing.assert_allclose(A.acg_3d(shuffled, offsets, 0.0, 30.0), expected, atol=1e-6)


def test_acg_known_answers():
    # Regular 10 Hz train, mid-bin: a spike at every 100th lag, in every decile.
    regular = (np.arange(300) * 100 + 0.5) / 1000
    lin = A.linear_acg_3d(regular, np.array([0, 300]), 0.0, 30.0, A.rate_deciles(A.spike_rates(
        regular, np.array([0, 300])), np.array([0, 300])))
    expected = np.zeros(1000)
    expected[99::100] = 1.0
    np.testing.assert_allclose(lin[0], np.tile(expected, (10, 1)))
    # Poisson at 20 Hz: flat at 20 spikes/s x 1 ms, x10 -> 0.2 away from lag 0.
    rng = np.random.default_rng(3)
    poisson = np.sort(rng.uniform(0, 600, 12_000))
    acg = A.acg_3d(poisson, np.array([0, len(poisson)]), 0.0, 600.0)[0]
    assert acg[:, 0].tolist() == [0.0] * 10
    assert abs(acg[:, 60:].mean() - 0.2) < 0.01
    # Deciles are equal groups of the rate ranks, higher deciles faster.
    rates = A.spike_rates(poisson, np.array([0, len(poisson)]))
    deciles = A.rate_deciles(rates, np.array([0, len(poisson)]))
    assert np.bincount(deciles).tolist() == [1200] * 10
    assert all(rates[deciles == d].max() <= rates[deciles == d + 1].min() for d in range(9))


def test_acg_is_fast():
    rng = np.random.default_rng(4)
    times = np.sort(rng.uniform(0, 300, 10_000))
    A.acg_3d(times, np.array([0, 10_000]), 0.0, 300.0)
    best = math.inf
    for _ in range(3):
        t0 = time.process_time()
        A.acg_3d(times, np.array([0, 10_000]), 0.0, 300.0)
        best = min(best, time.process_time() - t0)
    assert best < 0.03, f"3D ACG of 10,000 spikes took {best:.3f} s CPU"


# --- waveforms and inputs -------------------------------------------------------------------


def test_waveforms_are_scaled_and_resampled():
    rng = np.random.default_rng(5)
    w90 = rng.normal(size=(4, 90))
    out = prepare_waveforms(w90, 30_000.0)
    np.testing.assert_allclose(out, w90 / np.abs(w90).max(axis=1, keepdims=True), rtol=1e-6)
    # 40 kHz, 200 samples, trough at sample 100: 3 ms around it at 30 kHz, trough at 1 ms.
    t = np.arange(200) / 40_000
    w = -np.exp(-0.5 * ((t - 100 / 40_000) / 2e-4) ** 2) * np.array([[50.0], [80.0]])
    out = prepare_waveforms(w, 40_000.0)
    target = 100 / 40_000 + (np.arange(90) - 30) / 30_000
    direct = np.array([np.interp(target, t, row) for row in w])
    np.testing.assert_allclose(out, direct / np.abs(direct).max(axis=1, keepdims=True), atol=1e-6)
    assert out.shape == (2, 90) and np.all(np.argmin(out, axis=1) == 30) and np.allclose(out.min(axis=1), -1)


def test_unit_inputs_need_spikes_with_waveforms():
    rec = make_recording("toy", "a0", "r0", [None] * 5, ["x"] * 5, duration=20.0)
    ids, wf, acg = unit_inputs([rec])
    assert list(ids) == list(rec.neuron_ids) and wf.shape == (5, 90) and acg.shape == (5, 10, 101)
    calcium = make_recording("toy", "a0", "c0", [None] * 5, ["x"] * 5, modality="calcium")
    with pytest.raises(NeuronbenchError, match="waveforms"):
        unit_inputs([calcium])


# --- augmentations ------------------------------------------------------------------------


def test_acg_transforms_on_hand_made_inputs():
    x = torch.arange(1.0, 8.0).reshape(1, 1, 7)
    shift = torch.tensor([[[2]]])
    assert shift_lags(x, shift).tolist() == [[[1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0]]]
    assert shift_lags(x, shift, wrap=True).tolist() == [[[6.0, 7.0, 1.0, 2.0, 3.0, 4.0, 5.0]]]
    assert shift_lags(x, -shift).tolist() == [[[3.0, 4.0, 5.0, 6.0, 7.0, 7.0, 7.0]]]
    v = torch.rand(3, 10, 101, dtype=torch.float64)
    np.testing.assert_allclose(smooth_lags(v).numpy(), gaussian_filter1d(v.numpy(), 2.0, axis=-1), atol=1e-12)


def test_augmentations_are_random_per_sample_and_seeded():
    acg = torch.rand(512, 10, 101) + 0.1
    wf = torch.randn(512, 90)
    a1 = augment_acg(acg, torch.Generator().manual_seed(0))
    a2 = augment_acg(acg, torch.Generator().manual_seed(0))
    assert torch.equal(a1, a2) and a1.shape == acg.shape and (a1 >= 0).all()
    untouched = (a1 == acg).flatten(1).all(dim=1).float().mean().item()
    assert 0.0 < untouched < 0.1  # each of 5 steps skipped with p = 0.5: 1/32 untouched
    w = augment_waveforms(wf, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(w.abs().amax(dim=1).numpy(), 1.0, rtol=1e-6)
    noisy = ~torch.isclose(w, wf / wf.abs().amax(dim=1, keepdim=True)).all(dim=1)
    assert 0.2 < noisy.float().mean().item() < 0.4  # noise with p = 0.3


# --- loss and model --------------------------------------------------------------------------


def test_clip_loss_equals_a_direct_computation():
    wf = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]), dim=1)
    acg = torch.nn.functional.normalize(torch.tensor([[0.9, 0.1], [0.5, 0.5], [-0.2, 1.0]]), dim=1)
    sim = [[float(wf[i] @ acg[j]) / 0.5 for j in range(3)] for i in range(3)]
    rows = [-sim[i][i] + math.log(sum(math.exp(s) for s in sim[i])) for i in range(3)]
    cols = [-sim[j][j] + math.log(sum(math.exp(sim[i][j]) for i in range(3))) for j in range(3)]
    expected = 0.5 * (sum(rows) / 3 + sum(cols) / 3)
    assert clip_loss(wf, acg, 0.5).item() == pytest.approx(expected, rel=1e-6)


def test_model_shapes_and_published_size():
    paper = NemoMethod(**INFO.config("paper")).build_model()
    assert sum(p.numel() for p in paper.parameters()) == 566_516  # the original's 566 k
    paper.eval()
    wf, acg = torch.randn(7, 90), torch.rand(7, 10, 101)
    assert paper.represent(wf, acg).shape == (7, 500)
    zw, za = paper(wf, acg)
    assert zw.shape == za.shape == (7, 512)
    np.testing.assert_allclose(zw.norm(dim=1).detach().numpy(), 1.0, rtol=1e-5)


# --- training, reproducibility, harness -------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_recordings(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "nb-data"  # the session's data folder (conftest)
    return [r.without_labels() for r in load_dataset("synthetic-tiny", root).load()]


def test_training_reduces_the_loss(tiny_recordings):
    _, wf, acg = unit_inputs(tiny_recordings)
    wf, acg = torch.as_tensor(wf), torch.as_tensor(acg)
    torch.manual_seed(0)
    model = Nemo(acg_dim=16, wf_hidden=32, wf_dim=16, embed_dim=16).eval()
    with torch.no_grad():
        before = clip_loss(*model(wf, acg)).item()
    gen = torch.Generator().manual_seed(0)
    losses = train(model, wf, acg, epochs=40, batch_size=64, lr=3e-3, temperature=0.5, restart_epochs=40,
                   augment=True, jitter_wrap=False, gen=gen, aug_gen=gen)
    with torch.no_grad():
        after = clip_loss(*model(wf, acg)).item()
    assert len(losses) == 40 and after < before - 0.2 and np.mean(losses[-5:]) < np.mean(losses[:5])


def test_same_seed_same_embeddings(tiny_recordings):
    config = INFO.config("tiny", device="cpu")
    fit_recs = tiny_recordings[:4]
    e1 = NemoMethod(**config).fit(fit_recs, seed=3).embed(tiny_recordings)
    e2 = NemoMethod(**config).fit(fit_recs, seed=3).embed(tiny_recordings)
    e3 = NemoMethod(**config).fit(fit_recs, seed=4).embed(tiny_recordings)
    n_units = sum(r.n_units for r in tiny_recordings)
    assert e1.shape == (n_units, 16 + 16) and list(e1.index) == [i for r in tiny_recordings for i in r.neuron_ids]
    assert np.isfinite(e1.to_numpy()).all()
    assert e1.equals(e2) and not e1.equals(e3)


def test_runs_through_the_harness_and_is_not_applicable_on_calcium(tmp_path):
    options = GridOptions(preset="tiny", device="cpu", probes=("linear",), results=tmp_path, progress=False)
    run_grid(["nemo"], "synthetic-tiny", SETTINGS, [0], options=options)
    run_grid(["nemo"], "synthetic-tiny-calcium", SETTINGS, [0], options=options)
    records = [r for _, r in iter_records(tmp_path)]
    spikes = [r for r in records if r.dataset.name == "synthetic-tiny"]
    calcium = [r for r in records if r.dataset.name == "synthetic-tiny-calcium"]
    assert {r.setting for r in spikes} == set(SETTINGS) and len(spikes) >= 9
    assert all(r.status == "ok" and r.environment["device"] == "cpu" for r in spikes), spikes[0].reason
    assert {r.setting for r in calcium} == set(SETTINGS) and len(calcium) >= 9
    assert all(r.status == "not_applicable" and "spikes" in r.reason for r in calcium)
