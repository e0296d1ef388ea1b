"""The named `izhikevich` dataset (NeurPIR's benchmark): layout, labels, coupling,
determinism, caching, and its task and splits."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from neuronbench.data import izhikevich as iz
from neuronbench.data import izhikevich_dataset as izd
from neuronbench.protocol.datasets import get_dataset_info, get_task, load_dataset
from neuronbench.protocol.settings import make_split
from neuronbench.protocol.tasks import task_table


@pytest.fixture(scope="module")
def tiny():
    return izd.simulate(izd.tiny_config(), izd.DATASET_TINY)


def test_default_layout_is_the_papers_population():
    cfg = izd.IzhikevichDatasetConfig()
    assert cfg.n_animals * cfg.neurons_per_mode * len(izd.FIRING_MODES) == 2000  # 400 per mode
    mode, params, _, weights = izd._network(cfg, 0)
    assert np.bincount(mode).tolist() == [80] * 5
    for k, name in enumerate(izd.FIRING_MODES):  # canonical (a, b, c, d) up to the small jitter
        canonical = np.array(iz.CANONICAL_PARAMETERS[name])
        median = np.median(np.stack([params.a, params.b, params.c, params.d])[:, mode == k], axis=1)
        assert np.allclose(median, canonical, rtol=0.05, atol=0.5)
    excitatory = np.isin(np.array(izd.FIRING_MODES)[mode], izd.EXCITATORY)
    assert (weights[:, excitatory] >= 0).all() and (weights[:, ~excitatory] <= 0).all()
    assert np.all(np.diag(weights) == 0)
    assert weights[:, excitatory].max() <= 0.5 * 1000 / 400 and weights[:, ~excitatory].min() >= -1000 / 400


def test_network_copies_equal_matrix_coupling():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(2, 6, 6))
    network_of_copy = np.array([0, 1, 1])
    copies = izd.NetworkCopies(w, network_of_copy)
    dense = iz.MatrixCoupling(scipy.linalg.block_diag(*w[network_of_copy]))
    for fired in (np.array([0, 4, 7, 8, 17]), np.array([13])):
        assert np.allclose(copies.current(fired), dense.current(fired), atol=1e-5)
    assert copies.current(np.zeros(0, dtype=np.int64)) is None
    params = iz.mode_parameters(["RS", "CH", "FS", "LTS", "IB", "RS"] * 3)
    drive = 6.0 + 3.0 * rng.standard_normal((400, 18))
    a = iz.simulate(params, 400, drive, coupling=copies, dtype=np.float64)
    b = iz.simulate(params, 400, drive, coupling=dense, dtype=np.float64)
    assert np.array_equal(a.steps, b.steps) and np.array_equal(a.neurons, b.neurons) and a.steps.size > 0


def test_tiny_dataset_layout_and_labels(tiny):
    cfg = izd.tiny_config()
    assert [r.recording for r in tiny] == [f"m{a}-s{s}" for a in range(3) for s in range(2)]
    for rec in tiny:
        assert rec.modality == "spikes" and rec.t_stop == cfg.duration_s
        counts = rec.labels["firing_mode"].value_counts()
        assert sorted(counts.index) == sorted(izd.FIRING_MODES) and set(counts) == {cfg.neurons_per_mode}
        assert (rec.spike_counts() > 0).all()
        assert rec.epochs["stimulus"].isin(cfg.conditions).all()
        assert rec.epochs["start"].iloc[0] == 0 and rec.epochs["stop"].iloc[-1] == cfg.duration_s
    # the two sessions of an animal hold the same neurons (tracked), with the same mode
    s0, s1 = tiny[0], tiny[1]
    mode0 = dict(zip(s0.neurons["track_id"], s0.labels["firing_mode"]))
    mode1 = dict(zip(s1.neurons["track_id"], s1.labels["firing_mode"]))
    assert mode0 == mode1
    # unit order carries no label: not sorted by mode, and differs between sessions
    assert list(s0.labels["firing_mode"]) != sorted(s0.labels["firing_mode"])
    assert list(s0.neurons["track_id"]) != list(s1.neurons["track_id"])


def test_firing_modes_keep_their_signatures(tiny):
    rates, short_isi = {m: [] for m in izd.FIRING_MODES}, {m: [] for m in izd.FIRING_MODES}
    for rec in tiny:
        for i, mode in enumerate(rec.labels["firing_mode"]):
            t = rec.unit_spikes(i)
            rates[mode].append(len(t) / rec.duration)
            short_isi[mode].append(np.mean(np.diff(t) < 0.008) if len(t) > 2 else 0.0)
    median = {m: np.median(v) for m, v in rates.items()}
    bursts = {m: np.median(v) for m, v in short_isi.items()}
    assert median["FS"] > median["RS"] and median["LTS"] > median["RS"]
    assert bursts["CH"] > 0.2 > bursts["RS"]  # chattering: bursts of spikes a few ms apart


def test_simulation_is_seeded(tiny):
    again = izd.simulate(izd.tiny_config(), izd.DATASET_TINY)
    assert all(np.array_equal(a.spike_times, b.spike_times) for a, b in zip(tiny, again))
    other = izd.simulate(izd.tiny_config(seed=1), izd.DATASET_TINY)
    assert not np.array_equal(tiny[0].spike_times[:50], other[0].spike_times[:50])


def test_named_dataset_is_cached_with_task_and_splits(tmp_path):
    info = get_dataset_info("izhikevich-tiny")
    assert info.generator == "neuronbench.data.izhikevich_dataset:build"
    ds = load_dataset("izhikevich-tiny", tmp_path)
    manifest = (ds.path / "manifest.json").stat().st_mtime_ns
    assert load_dataset("izhikevich-tiny", tmp_path).checksum == ds.checksum
    assert (ds.path / "manifest.json").stat().st_mtime_ns == manifest  # read from the cache
    task = get_task("izhikevich-tiny", "firing_mode")
    table = task_table(ds, task)
    assert table["label"].value_counts().tolist() == [36] * 5  # 3 animals x 2 sessions x 6
    for setting in ("transductive", "transductive-zero-shot", "inductive"):
        split = make_split(ds, task, setting)
        assert all(f.train and f.test for f in split.folds)
    inductive = make_split(ds, task, "inductive").folds[0]
    held = set(inductive.test_animals)
    assert held and not any(r.split("-")[0] in held for r in inductive.pretrain)
    assert get_task("izhikevich", "firing_mode").classes == izd.FIRING_MODES
