"""LOLCAT: snippet histograms, event detection, network, sampling, training, and the
harness (every setting; labels outside probe-train never reach it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from neuronbench_baselines.lolcat import INFO
from neuronbench_baselines.lolcat import features, sampling
from neuronbench_baselines.lolcat.features import SnippetConfig, calcium_events, normalisation, snippet_histograms
from neuronbench_baselines.lolcat.method import Lolcat
from neuronbench_baselines.lolcat.model import LolcatNet
from neuronbench.data.recording import Recording, neuron_id
from neuronbench.errors import NeuronbenchError
from neuronbench.method_cache import method_cache
from neuronbench.protocol.record import iter_records
from neuronbench.runner import GridOptions, run_grid

SETTINGS = ["transductive", "transductive-zero-shot", "inductive"]


# --- hand-made recordings -------------------------------------------------------------


def spikes_recording(trains: list[np.ndarray], duration: float, rec: str = "r0", animal: str = "m0",
                     tracks: list[str | None] | None = None) -> Recording:
    n = len(trains)
    units = [f"u{i}" for i in range(n)]
    neurons = pd.DataFrame({"neuron_id": [neuron_id("hand", rec, u) for u in units], "unit": units,
                            "track_id": tracks or [None] * n, "x": np.nan, "y": np.nan, "z": np.nan})
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in trains])]).astype(np.int64)
    return Recording(dataset="hand", animal=animal, recording=rec, modality="spikes", neurons=neurons,
                     t_start=0.0, t_stop=duration, epochs=pd.DataFrame(columns=["start", "stop", "stimulus"]),
                     spike_times=np.concatenate([np.zeros(0), *trains]), spike_offsets=offsets)


def calcium_recording(traces: np.ndarray, period: float) -> Recording:
    n = traces.shape[1]
    units = [f"u{i}" for i in range(n)]
    neurons = pd.DataFrame({"neuron_id": [neuron_id("hand", "c0", u) for u in units], "unit": units,
                            "track_id": None, "x": np.nan, "y": np.nan, "z": np.nan})
    frame_times = np.arange(traces.shape[0]) * period
    return Recording(dataset="hand", animal="m0", recording="c0", modality="calcium", neurons=neurons,
                     t_start=0.0, t_stop=float(frame_times[-1] + period),
                     epochs=pd.DataFrame(columns=["start", "stop", "stimulus"]),
                     traces=traces.astype(np.float32), frame_times=frame_times)


def typed_trains(rng: np.random.Generator, n: int, duration: float) -> tuple[list[np.ndarray], list[str]]:
    """Half regular (Poisson, 8 Hz), half bursty (bursts of 4 spikes 3 ms apart, 2 Hz)."""
    trains, labels = [], []
    for i in range(n):
        if i % 2 == 0:
            trains.append(np.sort(rng.uniform(0, duration, rng.poisson(8 * duration))))
            labels.append("regular")
        else:
            starts = np.sort(rng.uniform(0, duration - 0.02, rng.poisson(2 * duration)))
            trains.append(np.sort((starts[:, None] + 0.003 * np.arange(4)).ravel()))
            labels.append("bursty")
    return trains, labels


@pytest.fixture(autouse=True)
def one_thread():
    """Direct uses of the network run on one CPU thread, as the presets' ``threads=1``
    (two threads on a busy 2-core machine made these tiny steps ~50x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def separable() -> tuple[list[Recording], pd.Series]:
    """Two animals x one recording, 24 neurons each, two easily told-apart firing types."""
    rng = np.random.default_rng(0)
    recs, labels = [], {}
    for a in range(2):
        trains, lab = typed_trains(rng, 24, 60.0)
        rec = spikes_recording(trains, 60.0, rec=f"r{a}", animal=f"m{a}")
        recs.append(rec)
        labels.update(dict(zip(rec.neuron_ids, lab)))
    return recs, pd.Series(labels)


# --- inputs ---------------------------------------------------------------------------


def direct_histograms(trains: list[np.ndarray], duration: float, config: SnippetConfig) -> np.ndarray:
    """The obvious per-unit, per-snippet loop with np.histogram (as the original)."""
    n_snip = int(duration // config.snippet_s)
    out = np.zeros((len(trains), n_snip, config.n_bins))
    for u, train in enumerate(trains):
        for k in range(n_snip):
            t0 = k * config.snippet_s
            s = np.sort(train[(train >= t0) & (train < t0 + config.snippet_s)])
            if config.add_onset and len(s):
                s = np.concatenate([[t0], s])
            isi = np.diff(s)
            if config.histogram == "log":
                value = np.clip(np.log10(np.maximum(isi, 1e-12)), -2.5, 0.5)
                edges = np.linspace(-2.5, 0.5, config.n_bins + 1)
            else:
                value, edges = np.clip(isi, 0, config.snippet_s), np.linspace(0, config.snippet_s, config.n_bins + 1)
            out[u, k] = np.histogram(value, edges)[0]
    return out


@pytest.mark.parametrize("config", [SnippetConfig(), SnippetConfig(histogram="log", n_bins=128),
                                    SnippetConfig(histogram="log", n_bins=64),
                                    SnippetConfig(add_onset=True, n_bins=30, snippet_s=2.0)])
def test_histograms_equal_direct_computation(config: SnippetConfig) -> None:
    rng = np.random.default_rng(1)
    duration = 31.0  # 10 whole 3 s snippets (15 of 2 s) and a partial one that is dropped
    trains = [rng.uniform(0, duration, 200), np.sort(rng.uniform(0, duration, 5)), np.array([]),
              np.array([1.0, 1.0, 1.0005, 2.9, 3.1, 30.5, 30.9]),  # duplicates, boundary, partial snippet
              np.sort(np.concatenate([rng.uniform(0, duration, 50), np.arange(0.0, 30.0, 1.5)]))]
    rec = spikes_recording(trains, duration)
    hist = snippet_histograms(rec, config)
    expected = direct_histograms(trains, duration, config)
    assert hist.shape == expected.shape == (5, int(duration // config.snippet_s), config.n_bins)
    np.testing.assert_array_equal(hist, expected)
    assert hist[0].sum() > 100 and hist[2].sum() == 0


def test_cached_histograms_are_the_computed_ones_and_a_change_misses(tmp_path, capsys) -> None:
    rng = np.random.default_rng(3)
    trains = [np.sort(rng.uniform(0, 31.0, 150)), np.sort(rng.uniform(0, 31.0, 40)), np.array([])]
    rec, config = spikes_recording(trains, 31.0), SnippetConfig()
    uncached = snippet_histograms(rec, config)
    with method_cache(tmp_path):
        first = snippet_histograms(rec, config)  # computed and written
        again = snippet_histograms(rec, config)  # read back
    files = list((tmp_path / "histograms").glob("*.npy"))
    assert len(files) == 1 and isinstance(again, np.memmap)
    for got in (first, again):
        assert got.dtype == uncached.dtype and got.shape == uncached.shape and got.tobytes() == uncached.tobytes()

    moved = spikes_recording([trains[0] + 1e-6, *trains[1:]], 31.0)  # one spike train changed a little
    changes = [(rec, SnippetConfig(n_bins=30)), (rec, SnippetConfig(histogram="log")),
               (rec, SnippetConfig(add_onset=True)), (rec, SnippetConfig(snippet_s=2.0)), (moved, config)]
    for r, c in changes:
        with method_cache(tmp_path):
            got = snippet_histograms(r, c)
        assert got.tobytes() == snippet_histograms(r, c).tobytes()
    assert len(list((tmp_path / "histograms").glob("*.npy"))) == 1 + len(changes)  # each missed the cache

    files[0].write_bytes(b"not an array")  # a damaged cache file is recomputed, with a warning
    with method_cache(tmp_path):
        assert snippet_histograms(rec, config).tobytes() == uncached.tobytes()
    assert "damaged" in capsys.readouterr().err
    assert np.load(files[0], allow_pickle=False).tobytes() == uncached.tobytes()


def test_calcium_events_and_inter_event_histograms() -> None:
    period, decay, n = 0.25, 1.0, 400
    rng = np.random.default_rng(2)
    gamma = np.exp(-period / decay)
    onsets = [10, 40, 41, 100, 245, 246, 247, 390]  # frames; runs of consecutive rises = bursts
    kicks = np.zeros(n)
    kicks[onsets] = 1.0
    transients = np.zeros(n)
    for t in range(n):
        transients[t] = kicks[t] + (gamma * transients[t - 1] if t else 0.0)
    traces = np.column_stack([transients + 0.02 * rng.standard_normal(n), np.full(n, 0.3),
                              0.02 * rng.standard_normal(n)])
    times, unit = calcium_events(traces, np.arange(n) * period, threshold=4.0, decay_s=decay)
    np.testing.assert_allclose(times[unit == 0], np.array(onsets) * period)
    assert not (unit == 1).any()  # a constant trace has no events
    assert not (unit == 2).any()  # noise alone: no event at 4 sigma
    rec = calcium_recording(traces, period)
    hist = snippet_histograms(rec, SnippetConfig(histogram="linear", n_bins=12, event_threshold=4.0))
    # intervals inside 3 s snippets: frames 40->41 (10, 10.25 s) and 245->246->247 (61.25 .. 61.75 s)
    assert hist[0].sum() == 3 and hist[0, :, 1].sum() == 3  # each one frame (0.25 s, bin 1) long
    assert hist[0, 3, 1] == 1 and hist[0, 20, 1] == 2


def test_normalisation_ignores_padding_and_zeroes_constant_bins() -> None:
    rng = np.random.default_rng(3)
    hist = rng.integers(0, 5, size=(3, 4, 6)).astype(np.uint16)
    hist[:, :, 2] = 7
    n_snip = np.array([4, 2, 3])
    for i, k in enumerate(n_snip):
        hist[i, k:] = 0  # padding
    valid = np.concatenate([hist[i, :k] for i, k in enumerate(n_snip)]).astype(np.float64)
    mean, inv = normalisation(hist, n_snip)
    np.testing.assert_allclose(mean, valid.mean(axis=0), rtol=1e-6)
    expected = np.where(valid.std(axis=0) > 0, 1 / np.where(valid.std(axis=0) > 0, valid.std(axis=0), 1), 0)
    np.testing.assert_allclose(inv, expected, rtol=1e-5)
    assert inv[2] == 0


# --- the network ----------------------------------------------------------------------


def direct_forward(net: LolcatNet, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, embedding) of one neuron's snippets x (snippets, bins), written out with
    numpy from the weights: eval-mode BatchNorm, 4 independent gated-attention heads."""
    p = {k: v.detach().double().numpy() for k, v in net.state_dict().items()}
    h = (x - p["input_mean"]) * p["input_inv_std"]
    linears = [k[:-len(".weight")] for k in p if k.startswith("encoder.") and p[k].ndim == 2]
    for i, name in enumerate(linears):
        h = h @ p[f"{name}.weight"].T + p[f"{name}.bias"]
        if i < len(linears) - 1:
            bn = f"encoder.{int(name.split('.')[1]) + 1}"
            h = (h - p[f"{bn}.running_mean"]) / np.sqrt(p[f"{bn}.running_var"] + 1e-5)
            h = h * p[f"{bn}.weight"] + p[f"{bn}.bias"]
            h = np.maximum(h, 0)
    heads, dim, hd = net.pool.heads, h.shape[1], net.pool.head_dim
    out = []
    for k in range(heads):
        gate = np.maximum(h @ p["pool.gate_in.weight"][k * dim:(k + 1) * dim].T, 0) @ p["pool.gate_out"][k]
        w = np.exp(gate - gate.max())
        w /= w.sum()
        rows = slice(k * hd, (k + 1) * hd)
        v = np.maximum(h @ p["pool.value_in.weight"][rows].T + p["pool.value_in.bias"][rows], 0)
        v = v @ p["pool.value_out"][k] + p["pool.value_out_bias"][k]
        out.append(w @ v)
    z = np.concatenate(out)
    c = np.maximum(z @ p["classifier.0.weight"].T + p["classifier.0.bias"], 0)
    return c @ p["classifier.3.weight"].T + p["classifier.3.bias"], z


def test_network_shapes_size_and_a_direct_computation_of_the_loss() -> None:
    torch.manual_seed(0)
    assert sum(p.numel() for p in LolcatNet(90, 3).parameters()) == 6611  # ~6.6 k, as published
    net = LolcatNet(6, 3)
    with torch.no_grad():  # non-trivial normalisation and BatchNorm statistics
        net.set_normalisation(torch.rand(6), torch.rand(6) + 0.5)
        for m in net.encoder:
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.weight.uniform_(0.5, 2)
    net.eval()
    rng = np.random.default_rng(4)
    n_snip = [5, 2, 7]
    snippets = [rng.poisson(2.0, size=(k, 6)).astype(np.float32) for k in n_snip]
    mask = torch.arange(7)[None, :] < torch.tensor(n_snip)[:, None]
    x = torch.from_numpy(np.concatenate(snippets))
    target = torch.tensor([2, 0, 1])
    logits, z = net(x, mask)
    assert logits.shape == (3, 3) and z.shape == (3, 32)
    direct = [direct_forward(net, s) for s in snippets]
    np.testing.assert_allclose(z.detach().numpy(), np.stack([d[1] for d in direct]), rtol=1e-4, atol=1e-5)
    direct_logits = np.stack([d[0] for d in direct])
    log_softmax = direct_logits - np.log(np.exp(direct_logits).sum(axis=1, keepdims=True))
    loss_direct = -log_softmax[np.arange(3), target.numpy()].mean()
    loss = torch.nn.functional.cross_entropy(logits, target)
    assert loss.item() == pytest.approx(loss_direct, rel=1e-5)
    # a neuron's embedding does not depend on the other neurons of its batch
    alone = net.embed(torch.from_numpy(snippets[1]), torch.ones(1, 2, dtype=torch.bool))
    torch.testing.assert_close(alone[0], z[1])


def test_a_few_training_steps_reduce_the_loss(separable: tuple[list[Recording], pd.Series]) -> None:
    recs, labels = separable
    config = SnippetConfig(histogram="log", n_bins=32)
    hist = np.concatenate([snippet_histograms(r, config) for r in recs]).astype(np.float32)
    y = torch.tensor([0 if labels[i] == "regular" else 1 for r in recs for i in r.neuron_ids])
    torch.manual_seed(0)
    net = LolcatNet(32, 2)
    mean, inv = normalisation(hist, np.full(len(hist), hist.shape[1]))
    net.set_normalisation(torch.from_numpy(mean), torch.from_numpy(inv))
    x, mask = torch.from_numpy(hist.reshape(-1, 32)), torch.ones(hist.shape[:2], dtype=torch.bool)

    def eval_loss() -> float:
        net.eval()
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(net(x, mask)[0], y).item()

    before = eval_loss()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=1e-4)
    net.train()
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(net(x, mask)[0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert eval_loss() < 0.5 * before


# --- sampling -------------------------------------------------------------------------


def test_class_rebalanced_epochs_and_snippet_dropout() -> None:
    y = np.array([0] * 60 + [1] * 20 + [2] * 7)
    np.testing.assert_allclose(sampling.oversampling_factors(y, 4), [1.0, 3.0, 60 / 7, 0.0])
    g = torch.Generator().manual_seed(0)
    counts = np.bincount(np.concatenate([y[sampling.balanced_epoch(y, 4, g)] for _ in range(50)]), minlength=3)
    assert counts.sum() == 50 * len(y)
    np.testing.assert_allclose(counts / counts.sum(), [1 / 3] * 3, atol=0.03)  # vs 0.69 / 0.23 / 0.08
    valid = torch.arange(10)[None, :] < torch.tensor([10, 1, 3])[:, None]
    keeps = torch.stack([sampling.snippet_dropout(valid, 0.4, g) for _ in range(500)])
    assert not (keeps & ~valid).any() and keeps.any(dim=2).all()  # only valid snippets, at least one
    assert keeps[:, 0].float().mean().item() == pytest.approx(0.6, abs=0.03)
    assert keeps[:, 1, 0].all()  # a neuron with one snippet always keeps it


def test_adaptive_oversampling_step() -> None:
    # six classes of two training neurons; per-neuron losses 0 (well trained) or 2 (not)
    y = np.repeat(np.arange(6), 2)
    train_loss = np.repeat([0.0, 2.0, 2.0, 2.0, 0.0, 2.0], 2)  # mean 4/3, std (ddof 1) 0.985
    y_val = np.array([0, 1, 2, 3, 4])  # class 5 has no validation neuron
    val_loss = np.array([0.0, 2.5, 4.5, 2.0, 0.0])  # class 2: 2.5 above its training loss, > 2 std
    factors = np.array([1.0, 3.0, 8.0, 150.0, 0.805, 2.0])
    got = sampling.adapt_factors(factors, train_loss, y, val_loss, y_val)
    np.testing.assert_allclose(got, [1.0 / 1.01,   # below the mean: down
                                     3.0 / 0.99,   # above the mean, not overfitting: up
                                     8.0,          # above the mean but overfitting: unchanged
                                     100.0,        # up, clipped to 100
                                     0.8,          # down, clipped to 0.8
                                     2.0 / 0.99])  # no validation neuron: not overfitting, up
    # several epochs in a row compound; an absent class stays absent; equal losses change nothing
    twice = sampling.adapt_factors(np.append(got, 0.0), train_loss, y, val_loss, y_val)
    np.testing.assert_allclose(twice[:2], [1.0 / 1.01**2, 3.0 / 0.99**2])
    assert twice[6] == 0.0
    flat = sampling.adapt_factors(factors, np.ones(12), y, val_loss, y_val)
    np.testing.assert_array_equal(flat, factors)
    # a factor below 1 samples part of its class: 10 + 5 of 20 neurons, exactly
    g = torch.Generator().manual_seed(0)
    y2 = np.repeat([0, 1], 10)
    epoch = sampling.balanced_epoch(y2, 2, g, np.array([1.0, 0.5]))
    assert np.bincount(y2[epoch]).tolist() == [10, 5] and len(set(epoch.tolist())) == 15


def test_validation_split_is_stratified_grouped_and_seeded() -> None:
    ids = [f"n{i:02d}" for i in range(40)]
    labels = pd.Series(["a"] * 30 + ["b"] * 9 + ["c"], index=ids)
    groups = pd.Series([f"g{i // 2}" if i < 20 else f"n{i:02d}" for i in range(40)], index=ids)  # tracked pairs
    train, val = sampling.validation_split(labels, groups, 0.2, seed=0)
    assert sorted(train + val) == ids and not set(train) & set(val)
    counts = groups[val].groupby(labels[val]).nunique()  # validation groups per class: 20 % of 20, of 9, of 1
    assert counts.to_dict() == {"a": 4, "b": 2}  # a class with a single group stays in training
    for gid in groups.unique():
        members = groups.index[groups == gid]
        assert set(members) <= set(train) or set(members) <= set(val)  # a tracked neuron stays whole
    assert sampling.validation_split(labels, groups, 0.2, seed=0) == (train, val)
    assert sampling.validation_split(labels, groups, 0.2, seed=1) != (train, val)


# --- the method -----------------------------------------------------------------------


def small_config(**kw) -> dict:
    return INFO.config("tiny", device="cpu", **{"spike_bins": 32, "epochs": 25, "batch_size": 16, **kw})


def test_fit_learns_and_embeds_every_unit(separable: tuple[list[Recording], pd.Series]) -> None:
    recs, labels = separable
    train = labels[labels.index.str.contains("/r0/")]  # labels of the first animal only
    model = Lolcat(**small_config()).fit(recs, seed=0, labels=train)
    assert sorted(model.train_ids_ + model.val_ids_) == sorted(train.index)  # nothing else trains it
    assert model.device_ == "cpu" and model.classes_ == ["bursty", "regular"]
    assert model.best_val_macro_f1_ == 1.0
    assert np.mean(model.history_["train_loss"][-5:]) < model.history_["train_loss"][0]
    table = model.embed(recs)
    assert list(table.index) == [i for r in recs for i in r.neuron_ids] and table.shape[1] == 32
    assert np.isfinite(table.to_numpy()).all()
    # the second animal was never trained on: its two types are still apart in the embedding
    other = table.loc[labels.index[labels.index.str.contains("/r1/")]]
    y = labels[other.index] == "bursty"
    centroid_gap = np.linalg.norm(other[y].mean() - other[~y].mean())
    spread = np.sqrt(other[y].var().sum() + other[~y].var().sum())
    assert centroid_gap > 2 * spread


def test_paper_and_cpu_presets_follow_the_authors_training() -> None:
    paper, cpu = INFO.config("paper"), INFO.config("cpu")
    assert paper["adaptive_oversampling"] and (paper["spike_histogram"], paper["spike_bins"]) == ("log", 64)
    assert {k for k in paper if cpu[k] != paper[k]} == {"epochs", "milestones"}  # the budget only


def test_oversampling_factors_adapt_every_epoch(separable: tuple[list[Recording], pd.Series]) -> None:
    recs, labels = separable
    train = labels[labels.index.str.contains("/r0/")]
    fixed = Lolcat(**small_config(epochs=4, adaptive_oversampling=False)).fit(recs, seed=0, labels=train)
    rows = np.array(fixed.history_["oversampling_factors"])
    assert rows.shape == (4, 2) and (rows == rows[0]).all() and rows.min() == 1.0
    adaptive = Lolcat(**small_config(epochs=4)).fit(recs, seed=0, labels=train)
    rows = np.array(adaptive.history_["oversampling_factors"])
    np.testing.assert_array_equal(rows[0], fixed.history_["oversampling_factors"][0])
    ratios = rows[1:] / rows[:-1]  # every class moves by one step of the rule each epoch
    assert np.all(np.isclose(ratios, 1 / 0.99) | np.isclose(ratios, 1 / 1.01) | np.isclose(ratios, 1.0))
    assert not np.isclose(ratios, 1.0).all()


def test_same_seed_same_embeddings(separable: tuple[list[Recording], pd.Series]) -> None:
    recs, labels = separable
    cfg = small_config(epochs=3)
    a = Lolcat(**cfg).fit(recs, seed=0, labels=labels).embed(recs)
    b = Lolcat(**cfg).fit(recs, seed=0, labels=labels).embed(recs)
    c = Lolcat(**cfg).fit(recs, seed=1, labels=labels).embed(recs)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.to_numpy(), c.to_numpy())


def test_bad_input_is_refused(separable: tuple[list[Recording], pd.Series]) -> None:
    recs, labels = separable
    with pytest.raises(NeuronbenchError, match="supervised"):
        Lolcat(**small_config()).fit(recs, seed=0)
    with pytest.raises(NeuronbenchError, match="in none of the fit's recordings"):
        Lolcat(**small_config()).fit(recs[:1], seed=0, labels=labels)
    with pytest.raises(NeuronbenchError, match="2 classes"):
        Lolcat(**small_config()).fit(recs, seed=0, labels=labels[labels == "bursty"])
    with pytest.raises(NeuronbenchError, match="before embed"):
        Lolcat(**small_config()).embed(recs)


# --- through the harness --------------------------------------------------------------


def test_harness_every_setting_and_only_probe_train_labels(tmp_path, monkeypatch) -> None:
    from neuronbench.protocol.datasets import get_task, load_dataset
    from neuronbench.protocol.settings import get_split

    seen: list[tuple[frozenset, Lolcat]] = []
    original = Lolcat.fit

    def spy(self, recordings, *, seed, labels=None):
        assert all(r.labels is None for r in recordings)
        seen.append((frozenset(labels.index), self))
        return original(self, recordings, seed=seed, labels=labels)

    monkeypatch.setattr(Lolcat, "fit", spy)
    computed = []
    compute = features.interval_histograms
    monkeypatch.setattr(features, "interval_histograms", lambda *a: computed.append(a[2]) or compute(*a))
    options = GridOptions(preset="tiny", device="cpu", probes=("linear",), results=tmp_path, progress=False)
    run_grid(["lolcat"], "synthetic-tiny", SETTINGS, [0], tasks=["cell_class"], options=options)
    records = [r for _, r in iter_records(tmp_path)]
    assert {r.setting for r in records} == set(SETTINGS)
    assert all(r.status == "ok" for r in records), [r.reason for r in records]
    assert all(r.probes["linear"][0]["metrics"]["macro_f1"] > 0.5 for r in records)

    ds = load_dataset("synthetic-tiny")
    task = get_task("synthetic-tiny", "cell_class")
    folds = [f for s in SETTINGS for f in get_split(ds, task, s).folds]
    assert len(seen) == len(folds) == len(records)  # one fit per (setting, fold, seed)
    assert len(computed) == len(ds.recordings)  # each recording's histograms computed once in the grid
    for fold in folds:  # each fit got exactly one fold's probe-train labels
        matches = [model for ids, model in seen if ids == frozenset(fold.train)]
        assert len(matches) == 1
        assert not set(fold.train) & set(fold.val + fold.test)
        assert sorted(matches[0].train_ids_ + matches[0].val_ids_) == sorted(fold.train)


def test_harness_on_calcium(tmp_path) -> None:
    options = GridOptions(preset="tiny", device="cpu", probes=("linear",), results=tmp_path, progress=False)
    run_grid(["lolcat"], "synthetic-tiny-calcium", ["inductive"], [0], tasks=["cell_class"], options=options)
    (record,) = [r for _, r in iter_records(tmp_path)]
    assert record.status == "ok", record.reason
    assert record.environment["device"] == "cpu"
