"""NeurPIR: VICReg against a direct computation, segments and views, the CEBRA input
(pretraining recordings only, no labels), training, determinism, and runs through the
harness on synthetic-tiny (spikes, calcium) and izhikevich-tiny."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from neuronbench_methods.neurpir import INFO, INFO_NOCEBRA
from neuronbench_methods.neurpir.loss import vicreg_loss, vicreg_terms
from neuronbench_methods.neurpir.model import NeurPIRNet, expander
from neuronbench_methods.neurpir.segments import SegmentStore, recording_activity, tiling
from neuronbench_methods.neurpir.surround import SurroundEncoder, stimulus_one_hot
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.datasets import get_task, load_dataset
from neuronbench.protocol.record import iter_records
from neuronbench.runner import GridOptions, run_grid
from neuronbench.protocol.settings import get_split

SETTINGS = ["transductive", "transductive-zero-shot", "inductive"]


def tiny(info=INFO, **overrides):
    return info.build(info.config("tiny", device="cpu", **overrides))


@pytest.fixture(scope="module")
def spikes():
    return [r.without_labels() for r in load_dataset("synthetic-tiny").load()]


# ----------------------------------------------------------------------------- VICReg

def direct_vicreg(za: np.ndarray, zb: np.ndarray, gamma: float = 1.0, eps: float = 1e-4) -> tuple[float, float, float]:
    """VICReg's terms written out with numpy (unbiased variance and covariance)."""
    n, d = za.shape
    invariance = np.mean((za - zb) ** 2)
    variance = np.mean([np.mean(np.maximum(0.0, gamma - np.sqrt(z.var(axis=0, ddof=1) + eps))) for z in (za, zb)])
    covariance = 0.0
    for z in (za, zb):
        c = np.cov(z, rowvar=False)
        covariance += sum(c[i, j] ** 2 for i in range(d) for j in range(d) if i != j) / d
    return invariance, variance, covariance


def test_vicreg_terms_equal_direct_computation():
    rng = np.random.default_rng(0)
    za, zb = rng.normal(size=(16, 5)) * [0.2, 1.0, 3.0, 0.5, 1.5], rng.normal(size=(16, 5))
    terms = vicreg_terms(torch.tensor(za), torch.tensor(zb))
    expected = direct_vicreg(za, zb)
    for name, value in zip(("invariance", "variance", "covariance"), expected):
        assert terms[name].item() == pytest.approx(value, rel=1e-6), name
    loss, _ = vicreg_loss(torch.tensor(za), torch.tensor(zb))
    assert loss.item() == pytest.approx(25 * expected[0] + 25 * expected[1] + expected[2], rel=1e-5)


def test_vicreg_on_hand_made_inputs():
    # two columns: std sqrt(2) (no penalty) and constant (penalty 1 - sqrt(eps) = 0.99)
    za = torch.tensor([[0.0, 1.0], [2.0, 1.0]])
    terms = vicreg_terms(za, za.clone())
    assert terms["invariance"].item() == 0.0
    assert terms["variance"].item() == pytest.approx(0.495, abs=1e-6)
    assert terms["covariance"].item() == 0.0
    # perfectly correlated columns: Cov = [[2, 2], [2, 2]], off-diagonal 2 * 2^2 / d=2 = 4 per view
    zc = torch.tensor([[0.0, 0.0], [2.0, 2.0]])
    terms = vicreg_terms(zc, zc + 1.0)
    assert terms["invariance"].item() == pytest.approx(1.0)
    assert terms["covariance"].item() == pytest.approx(8.0)
    assert terms["variance"].item() == 0.0


# ----------------------------------------------------------------------------- segments and views

def test_views_are_disjoint_halves_with_aligned_surround():
    t = 400
    # activity value = 1000 * row + bin: every gathered value says where it came from
    acts = [1000.0 * np.arange(3)[:, None] + np.arange(t), 1000.0 * np.arange(3, 5)[:, None] + np.arange(t)]
    surrounds = [np.stack([np.arange(t), -np.arange(t)], axis=1)] * 2  # surround channel 0 = bin index
    groups = ["a/n0", "x", "y", "a/n0", "z"]  # rows 0 and 3 are one tracked neuron
    store = SegmentStore.build([a.astype(np.float32) for a in acts], surrounds, groups)
    gen = torch.Generator().manual_seed(0)
    rows = torch.arange(5)
    for _ in range(20):
        xa, xb = store.views(rows, (20, 40), 3, gen, cross_session=True)
        assert xa.shape == (5, 3, 3, 20) and xb.shape == (5, 3, 3, 40)
        for x in (xa, xb):
            bins = x[:, :, 0] % 1000
            assert torch.equal(x[:, :, 1], bins) and torch.equal(x[:, :, 2], -bins)  # aligned in time
            assert torch.equal(torch.diff(bins, dim=-1), torch.ones_like(bins[..., 1:]))  # contiguous
        row_a, row_b = xa[:, 0, 0, 0] // 1000, xb[:, 0, 0, 0] // 1000
        assert torch.equal(row_a, rows.double().float())
        assert row_b[1:3].tolist() == [1, 2] and row_b[4] == 4  # untracked: themselves
        assert row_b[0] in (0, 3) and row_b[3] in (0, 3)  # tracked: either session
        half_a = (xa[:, :, 0] % 1000) >= t // 2
        half_b = (xb[:, :, 0] % 1000) >= t // 2
        assert (half_a == half_a[:, :1, :1]).all() and (half_b == ~half_a[:, :1, :1]).all()


def test_tiling_covers_the_recording():
    assert tiling(100, 30).tolist() == [0, 30, 60, 70]
    assert tiling(90, 30).tolist() == [0, 30, 60]
    assert tiling(10, 30).tolist() == [0]


def test_network_shapes_and_pooling():
    net = NeurPIRNet(in_channels=3, patch=5, hidden=8, dim=6)
    x = torch.randn(4, 7, 3, 20)
    seg = net.segments(x)
    assert seg.shape == (4, 7, 6)
    assert torch.allclose(net(x), seg.mean(dim=1), atol=1e-6)  # adaptive average pooling
    assert net(torch.randn(4, 2, 3, 40)).shape == (4, 6)  # any segment length and count
    assert expander(6, (32, 32, 32))(torch.randn(4, 6)).shape == (4, 32)


def test_a_few_steps_reduce_the_loss(spikes):
    acts = [recording_activity(r, 0.02)[0] for r in spikes]
    store = SegmentStore.build(acts, [np.zeros((a.shape[1], 0), np.float32) for a in acts],
                               [g for r in spikes for g in r.group_keys])
    xa, xb = store.views(torch.arange(64), (10, 20), 4, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    net, head = NeurPIRNet(1, 10, 16, 16), expander(16, (32, 32, 32))
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=1e-3)
    model, losses = tiny(), []
    for _ in range(30):
        loss, _ = model.loss(net, head, xa, xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


# ----------------------------------------------------------------------------- CEBRA input

def test_stimulus_one_hot_follows_the_epochs(spikes):
    rec = spikes[0]
    times = np.array([-1.0, 0.0, 19.9, 20.0, 59.9, 61.0])
    onehot = stimulus_one_hot(rec, times, ["gratings", "scenes", "spontaneous"])
    epochs = rec.epochs.sort_values("start")
    for t, row in zip(times, onehot):
        inside = epochs[(epochs["start"] <= t) & (t < epochs["stop"])]["stimulus"].tolist()
        assert row.tolist() == [float(s in inside) for s in ["gratings", "scenes", "spontaneous"]]


def test_cebra_sees_only_pretraining_recordings_and_no_labels(spikes, tmp_path, monkeypatch):
    import cebra

    calls = []
    original_fit = cebra.CEBRA.fit

    def spy_fit(self, X, *y, **kwargs):
        calls.append({"rows": len(X), "columns": X.shape[1], "y": y, "kwargs": dict(kwargs)})
        return original_fit(self, X, *y, **kwargs)

    seen = []
    original_surround_fit = SurroundEncoder.fit

    def spy_surround_fit(self, recordings, **kwargs):
        seen.append([r.recording for r in recordings])
        assert all(r.labels is None for r in recordings)
        return original_surround_fit(self, recordings, **kwargs)

    monkeypatch.setattr(cebra.CEBRA, "fit", spy_fit)
    monkeypatch.setattr(SurroundEncoder, "fit", spy_surround_fit)
    ds = load_dataset("synthetic-tiny")
    options = GridOptions(preset="tiny", device="cpu", probes=("linear",), results=tmp_path, progress=False)
    run_grid(["neurpir"], "synthetic-tiny", ["inductive"], [0], tasks=["subclass"], options=options)
    fold = get_split(ds, get_task("synthetic-tiny", "subclass"), "inductive").folds[0]
    assert seen == [list(fold.pretrain)]
    assert not any(r.split("-")[0] in fold.test_animals for r in seen[0])
    (call,) = calls
    assert call["y"] == () and not call["kwargs"]  # time-contrastive: no auxiliary variable, no label
    grid = SurroundEncoder(bin_s=INFO.presets["tiny"]["cebra_bin_s"]).grid
    pretrain = [r for r in spikes if r.recording in fold.pretrain]
    assert call["rows"] == sum(len(grid(r)) for r in pretrain) < sum(len(grid(r)) for r in spikes)
    assert call["columns"] == 3 + 2  # stimuli (spontaneous, gratings, scenes) + running speed, pupil


def test_unknown_stimuli_of_new_recordings_are_ignored(spikes):
    model = tiny().fit(spikes[:2], seed=0)
    renamed = dataclasses.replace(spikes[4], epochs=spikes[4].epochs.assign(stimulus="never-seen"))
    assert "never-seen" not in model.surround_.stimuli_
    assert model.surround_.features(renamed)[:, :3].sum() == 0  # the stimulus columns stay zero
    assert np.isfinite(model.embed([renamed]).to_numpy()).all()


def test_no_surrounding_information_is_an_error(spikes):
    bare = [dataclasses.replace(r, epochs=r.epochs.iloc[:0], behaviour=None) for r in spikes[:2]]
    with pytest.raises(NeuronbenchError, match="neurpir-nocebra"):
        tiny().fit(bare, seed=0)
    assert tiny(INFO_NOCEBRA).fit(bare, seed=0).embed(bare).shape == (sum(r.n_units for r in bare), 8)


def test_ablation_never_fits_cebra(spikes, monkeypatch):
    import cebra

    monkeypatch.setattr(cebra.CEBRA, "fit", lambda *a, **k: pytest.fail("CEBRA fitted in the ablation"))
    model = tiny(INFO_NOCEBRA).fit(spikes[:2], seed=0)
    assert model.surround_ is None
    assert model.net_.segment_encoder.patch_embed.in_features == INFO_NOCEBRA.presets["tiny"]["patch_bins"]
    assert INFO.presets["cpu"]["surround"] and not INFO_NOCEBRA.presets["cpu"]["surround"]
    assert {k: v for k, v in INFO.presets["cpu"].items() if k != "surround"} == \
        {k: v for k, v in INFO_NOCEBRA.presets["cpu"].items() if k != "surround"}


# ----------------------------------------------------------------------------- fit / embed

def test_same_seed_same_embeddings(spikes):
    a = tiny().fit(spikes[:4], seed=3).embed(spikes)
    b = tiny().fit(spikes[:4], seed=3).embed(spikes)
    c = tiny().fit(spikes[:4], seed=4).embed(spikes)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.to_numpy(), c.to_numpy())
    assert list(a.index) == [i for r in spikes for i in r.neuron_ids]
    assert a.shape[1] == INFO.presets["tiny"]["dim"] and np.isfinite(a.to_numpy()).all()


def test_config_errors(spikes):
    with pytest.raises(NeuronbenchError, match="multiples of the patch"):
        tiny(segment_bins=(15, 20)).fit(spikes[:2], seed=0)
    with pytest.raises(NeuronbenchError, match="before embed"):
        tiny().embed(spikes[:1])


@pytest.mark.parametrize("dataset", ["synthetic-tiny", "synthetic-tiny-calcium", "izhikevich-tiny"])
def test_runs_through_the_harness(dataset, tmp_path):
    options = GridOptions(preset="tiny", device="cpu", probes=("linear",), results=tmp_path, progress=False)
    paths = run_grid(["neurpir"], dataset, SETTINGS, [0], options=options)
    records = [r for _, r in iter_records(tmp_path)]
    assert len(records) == len(paths) > 0
    for r in records:
        assert r.status == "ok", r.reason
        assert r.environment["device"] == "cpu"
        assert 0.0 <= r.probes["linear"][0]["metrics"]["macro_f1"] <= 1.0
