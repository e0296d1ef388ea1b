"""NeuPRINT (baselines/neuprint): the band attention against PyTorch's layer with the
published mask, the loss against a direct computation, the data pipeline on hand-made
recordings, training, determinism, the frozen test-time optimisation, and the harness."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from neuronbench_baselines.neuprint import INFO
from neuronbench_baselines.neuprint.data import (
    mask_entries,
    population_context,
    prepare_session,
    window_starts,
)
from neuronbench_baselines.neuprint.method import NeuPRINT
from neuronbench_baselines.neuprint.model import Dynamics, feed_forward, masked_mse
from neuronbench.data.recording import EPOCH_COLUMNS, Recording, neuron_id
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.record import iter_records
from neuronbench.runner import GridOptions, run_grid

FS = 4.0  # frames per second of the hand-made calcium recordings
TINY = INFO.config("tiny", device="cpu")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread avoids OpenMP hand-off costs on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def calcium_recording(rec: str, animal: str, tracks: list[str | None], n_frames: int = 400, seed: int = 0,
                      behaviour: bool = True) -> Recording:
    """AR(1) traces driven by a shared signal (so the population context is informative),
    with running speed and pupil at 10 Hz containing a NaN gap."""
    rng = np.random.default_rng(seed)
    n = len(tracks)
    shared = np.cumsum(rng.standard_normal(n_frames)) * 0.3
    traces = np.empty((n_frames, n), dtype=np.float32)
    traces[0] = rng.standard_normal(n)
    gain = np.linspace(0.0, 1.5, n)
    for i in range(1, n_frames):
        traces[i] = 0.7 * traces[i - 1] + gain * (shared[i] - shared[i - 1]) + 0.5 * rng.standard_normal(n)
    times = np.arange(n_frames) / FS
    units = [f"u{i}" for i in range(n)]
    beh = None
    if behaviour:
        bt = np.arange(0, n_frames / FS, 0.1)
        run = np.sin(bt / 3.0) + 1.0
        run[20:30] = np.nan
        beh = pd.DataFrame({"time": bt, "running_speed": run, "pupil": np.cos(bt / 5.0)})
    return Recording(
        dataset="toy", animal=animal, recording=rec, modality="calcium",
        neurons=pd.DataFrame({"neuron_id": [neuron_id("toy", rec, u) for u in units], "unit": units,
                              "track_id": tracks, "x": np.nan, "y": np.nan, "z": np.nan}),
        t_start=0.0, t_stop=float(times[-1] + 1 / FS), epochs=pd.DataFrame(columns=list(EPOCH_COLUMNS)),
        traces=traces, frame_times=times, behaviour=beh,
    ).validate()


@pytest.fixture(scope="module")
def recordings() -> list[Recording]:
    """Animal a0: two recordings sharing tracked neurons t0..t5; animal a1: one new recording."""
    tracked = [f"t{i}" for i in range(6)]
    return [
        calcium_recording("r0", "a0", tracked + [None, None], seed=1),
        calcium_recording("r1", "a0", tracked[2:] + [None] * 3, seed=2),
        calcium_recording("r2", "a1", ["t0", "t1", None, None, None], seed=3),
    ]


@pytest.fixture(scope="module")
def fitted(recordings: list[Recording]) -> NeuPRINT:
    return NeuPRINT(**TINY).fit(recordings[:2], seed=0)


def reference_layer(model: Dynamics, ffn_dim: int) -> torch.nn.TransformerEncoderLayer:
    """PyTorch's pre-norm encoder layer (the original's) with ``model``'s weights."""
    d = model.d_model
    layer = torch.nn.TransformerEncoderLayer(d, model.n_heads, dim_feedforward=ffn_dim, dropout=0.0,
                                             norm_first=True, batch_first=True)
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(model.in_proj.weight)
        layer.self_attn.in_proj_bias.copy_(model.in_proj.bias)
        layer.self_attn.out_proj.load_state_dict(model.out_proj.state_dict())
        layer.linear1.load_state_dict(model.linear1.state_dict())
        layer.linear2.load_state_dict(model.linear2.state_dict())
        layer.norm1.load_state_dict(model.norm1.state_dict())
        layer.norm2.load_state_dict(model.norm2.state_dict())
    return layer.eval()


def band_mask(length: int) -> torch.Tensor:
    """The original's context mask with context_backward=1, context_forward=0: step t
    attends to t-1 and t (additive float mask)."""
    allowed = torch.eye(length, dtype=torch.bool) | torch.eye(length, dtype=torch.bool).roll(-1, dims=1).tril()
    return torch.zeros(length, length).masked_fill(~allowed, float("-inf"))


def full_window_prediction(model: Dynamics, layer: torch.nn.TransformerEncoderLayer, emb: torch.Tensor,
                           x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
    """Predictions at every step of (rows, T) windows through the published T x T path."""
    rows, length = x.shape
    t = torch.arange(length).repeat(rows)
    tok = model.tokens(x.reshape(-1), emb.repeat_interleave(length, 0), ctx.reshape(rows * length, -1), t)
    out = layer(tok.reshape(rows, length, -1), src_mask=band_mask(length))
    return model.head(out).squeeze(-1)


def pairs(x: torch.Tensor, ctx: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """All (current, previous) pairs of (rows, T) windows, flattened."""
    rows, length = x.shape
    t = torch.arange(length).repeat(rows)
    r = torch.arange(rows).repeat_interleave(length)
    tp = (t - 1).clamp(min=0)
    return r, x[r, t], x[r, tp], ctx[r, t], ctx[r, tp], t


def test_band_mask_is_the_published_one() -> None:
    m = band_mask(4)
    assert torch.equal(torch.isfinite(m), torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]],
                                                       dtype=torch.bool))


def test_band_attention_equals_published_layer() -> None:
    torch.manual_seed(0)
    model = Dynamics(embedding_dim=12, n_context=4, d_model=22, n_heads=2, ffn_dim=40, max_len=30).eval()
    layer = reference_layer(model, 40)
    rows, length = 5, 30
    emb, x, ctx = torch.randn(rows, 12), torch.randn(rows, length), torch.randn(rows, length, 4)
    with torch.no_grad():
        expected = full_window_prediction(model, layer, emb, x, ctx).reshape(-1)
        r, xc, xp, cc, cp, t = pairs(x, ctx)
        got = model(emb[r], xc, xp, cc, cp, t)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # the prediction at step t does not depend on steps other than t and t - 1
    x2 = x.clone()
    x2[:, 10] += 5.0
    with torch.no_grad():
        moved = (full_window_prediction(model, layer, emb, x2, ctx) - expected.reshape(rows, length)).abs().amax(0)
    assert (moved[[10, 11]] > 1e-3).all() and (moved[[i for i in range(length) if i not in (10, 11)]] == 0).all()


def test_feed_forward_matches_composed_ops_and_skips_frozen_weights() -> None:
    torch.manual_seed(1)
    x = torch.randn(50, 6, requires_grad=True)
    l1, l2 = torch.nn.Linear(6, 16), torch.nn.Linear(16, 6)
    g = torch.randn(50, 6)
    feed_forward(x, l1.weight, l1.bias, l2.weight, l2.bias, 0.0).backward(g)
    got = [t.grad.clone() for t in (x, l1.weight, l1.bias, l2.weight, l2.bias)]
    for t in (x, l1.weight, l1.bias, l2.weight, l2.bias):
        t.grad = None
    l2(F.relu(l1(x))).backward(g)
    for a, t in zip(got, (x, l1.weight, l1.bias, l2.weight, l2.bias)):
        torch.testing.assert_close(a, t.grad)
    # frozen weights: only the input gets a gradient
    for t in (x, l1.weight, l1.bias, l2.weight, l2.bias):
        t.grad = None
    l1.requires_grad_(False)
    l2.requires_grad_(False)
    feed_forward(x, l1.weight, l1.bias, l2.weight, l2.bias, 0.0).backward(g)
    torch.testing.assert_close(x.grad, got[0])
    assert l1.weight.grad is None and l2.weight.grad is None


def test_feed_forward_dropout_rate_and_scale() -> None:
    """Every hidden unit is 1 before dropout; the output is the mean of the kept units
    times 1 / (1 - p): 1 in expectation, and the zeroed fraction is p."""
    torch.manual_seed(2)
    hidden = 200_000
    w1, b1 = torch.zeros(hidden, 1), torch.ones(hidden)
    w2, b2 = torch.full((1, hidden), 1.0 / hidden), torch.zeros(1)
    out = feed_forward(torch.zeros(1, 1), w1, b1, w2, b2, 0.3)
    assert out.item() == pytest.approx(1.0, abs=0.01)
    assert out.item() != 1.0  # something was dropped
    assert feed_forward(torch.zeros(1, 1), w1, b1, w2, b2, 0.0).item() == pytest.approx(1.0, rel=1e-3)


def test_population_context_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((7, 20))
    s1, s2 = z.sum(0), (z**2).sum(0)
    loo = population_context(z, s1, s2, 7, "leave_one_out")
    full = population_context(z, s1, s2, 7, "all")
    for i in range(7):
        others = np.delete(z, i, axis=0)
        np.testing.assert_allclose(loo[i, :, 0], others.mean(0), atol=1e-5)
        np.testing.assert_allclose(loo[i, :, 1], others.std(0), atol=1e-5)
        np.testing.assert_allclose(full[i, :, 0], z.mean(0), atol=1e-5)
        np.testing.assert_allclose(full[i, :, 1], z.std(0), atol=1e-5)
    with pytest.raises(ValueError):
        population_context(z, s1, s2, 7, "self")


def test_mask_entries_rates_and_forced_slices() -> None:
    rng = np.random.default_rng(0)
    masked, zeroed, noised = mask_entries((4, 50, 200), rng, 0.25, "none")
    assert masked.mean() == pytest.approx(0.25, abs=0.01)
    assert zeroed.sum() / masked.sum() == pytest.approx(0.8, abs=0.01)
    assert noised.sum() / masked.sum() == pytest.approx(0.1, abs=0.01)
    assert not (zeroed & noised).any() and not ((zeroed | noised) & ~masked).any()
    last_step = mask_entries((2, 5, 10), rng, 0.0, "last_step")[0]
    assert last_step[:, :, -1].all() and last_step.sum() == 2 * 5
    last_neuron = mask_entries((2, 5, 10), rng, 0.0, "last_neuron")[0]
    assert last_neuron[:, -1, :].all() and last_neuron.sum() == 2 * 10


def test_prepare_session(recordings: list[Recording]) -> None:
    rec = recordings[0]
    s = prepare_session(rec, bin_s=0.25, train_fraction=0.75, behaviour_columns=("running_speed", "pupil"))
    traces = np.asarray(rec.traces, dtype=np.float64)
    np.testing.assert_allclose(s.z, ((traces - traces.mean(0)) / traces.std(0)).T, atol=1e-5)
    np.testing.assert_allclose(s.s1, s.z.astype(np.float64).sum(0), atol=1e-4)
    assert s.n_train == 300 and s.behaviour.shape == (400, 2)
    # NaN gap interpolated, resampled at the frame times, z-scored
    b = rec.behaviour
    ok = b["running_speed"].notna()
    run = np.interp(rec.frame_times, b["time"][ok], b["running_speed"][ok])
    np.testing.assert_allclose(s.behaviour[:, 0], (run - run.mean()) / run.std(), atol=1e-5)
    assert np.isfinite(s.behaviour).all()
    assert tuple(rec.group_keys[:2]) == ("a0/t0", "a0/t1") and rec.group_keys[-1] == "toy/r0/u7"
    # without behaviour: zero columns
    bare = calcium_recording("r9", "a0", [None] * 3, behaviour=False)
    s0 = prepare_session(bare, bin_s=0.25, train_fraction=0.75, behaviour_columns=("running_speed", "pupil"))
    assert (s0.behaviour == 0).all()


def test_spikes_are_binned_and_zscored() -> None:
    units = ["a", "b"]
    spikes = [np.array([0.05, 0.06, 0.31, 0.9]), np.array([0.5])]
    rec = Recording(
        dataset="toy", animal="a0", recording="s0", modality="spikes",
        neurons=pd.DataFrame({"neuron_id": [neuron_id("toy", "s0", u) for u in units], "unit": units,
                              "track_id": None, "x": np.nan, "y": np.nan, "z": np.nan}),
        t_start=0.0, t_stop=1.0, epochs=pd.DataFrame(columns=list(EPOCH_COLUMNS)),
        spike_times=np.concatenate(spikes), spike_offsets=np.array([0, 4, 5]),
    ).validate()
    s = prepare_session(rec, bin_s=0.25, train_fraction=0.75, behaviour_columns=())
    counts = np.array([[2, 1, 0, 1], [0, 0, 1, 0]], dtype=np.float64)
    np.testing.assert_allclose(s.z, (counts - counts.mean(1, keepdims=True)) / counts.std(1, keepdims=True),
                               atol=1e-6)


def test_loss_equals_direct_computation(recordings: list[Recording]) -> None:
    """The batch path (gathered masked pairs, leave-one-out statistics, band attention)
    gives the masked MSE computed directly over whole windows with PyTorch's layer."""
    cfg = {**TINY, "embedding_dim": 8, "d_model": 16, "ffn_dim": 24, "window_len": 20, "n_windows": 2,
           "forced_mask": "last_step", "population_stats": "leave_one_out"}
    model = NeuPRINT(**cfg).fit(recordings[:1], seed=0)
    model.model_.eval()
    session = model._sessions(recordings[:1])[0]
    rows = np.array([model.keys_[k] for k in session.keys])
    got = model._loss(model.model_, model.table_.__getitem__, session, rows, np.random.default_rng(5), "train")

    rng = np.random.default_rng(5)  # the same draws, in make_batch's order
    starts, length = window_starts(session, "train", 20, 2, rng)
    x = np.stack([session.z[:, s : s + length] for s in starts])  # (B, n, W)
    masked, zeroed, noised = mask_entries(x.shape, rng, 0.25, "last_step")
    x_in = x.copy()
    x_in[zeroed] = 0.0
    x_in[noised] = rng.standard_normal(int(noised.sum()))
    n = session.n_neurons
    errors = []
    layer = reference_layer(model.model_, 24)
    for b, s in enumerate(starts):
        ctx = np.zeros((n, length, 4), dtype=np.float32)
        for i in range(n):
            others = np.delete(session.z[:, s : s + length], i, axis=0)
            ctx[i, :, 0], ctx[i, :, 1] = others.mean(0), others.std(0)
            ctx[i, :, 2:] = session.behaviour[s : s + length]
        with torch.no_grad():
            pred = full_window_prediction(model.model_, layer, model.table_[rows], torch.tensor(x_in[b]),
                                          torch.tensor(ctx)).numpy()
        errors.append((pred - x[b])[masked[b]] ** 2)
    assert got.item() == pytest.approx(np.concatenate(errors).mean(), rel=1e-4)
    assert masked_mse(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0])).item() == 5.0


def held_out_loss(model: NeuPRINT, recordings: list[Recording]) -> float:
    """Masked MSE (eval mode) on fixed validation batches."""
    model.model_.eval()
    sessions = model._sessions(recordings)
    rng = np.random.default_rng(0)
    losses = []
    for s in sessions * 4:
        rows = np.array([model.keys_[k] for k in s.keys])
        with torch.no_grad():
            losses.append(model._loss(model.model_, model.table_.__getitem__, s, rows, rng, "val").item())
    model.model_.train()
    return float(np.mean(losses))


def test_training_reduces_the_loss(recordings: list[Recording]) -> None:
    cfg = {**TINY, "steps_per_epoch": 20, "lr": 3e-3, "embedding_lr": 3e-2}
    before = held_out_loss(NeuPRINT(**{**cfg, "epochs": 0}).fit(recordings[:2], seed=0), recordings[:2])
    trained = NeuPRINT(**{**cfg, "epochs": 4}).fit(recordings[:2], seed=0)
    after = held_out_loss(trained, recordings[:2])
    assert after < 0.8 * before
    assert trained.history_[-1]["train_loss"] < trained.history_[0]["train_loss"]
    assert all(np.isfinite(h["val_loss"]) for h in trained.history_)


def test_embed_shapes_and_tracked_neurons(fitted: NeuPRINT, recordings: list[Recording]) -> None:
    table = fitted.embed(recordings)
    ids = [i for r in recordings for i in r.neuron_ids]
    assert list(table.index) == ids and table.index.name == "neuron_id"
    assert table.shape == (len(ids), TINY["embedding_dim"]) and np.isfinite(table.to_numpy()).all()
    assert all(dt == np.float64 for dt in table.dtypes)
    r0, r1, r2 = recordings
    # t2 is tracked in a0's two recordings: one embedding; a1's "t0" is another neuron
    np.testing.assert_array_equal(table.loc[r0.neuron_ids[2]], table.loc[r1.neuron_ids[0]])
    assert not np.allclose(table.loc[r0.neuron_ids[0]], table.loc[r2.neuron_ids[0]])
    assert not np.allclose(table.loc[r0.neuron_ids[6]], table.loc[r0.neuron_ids[7]])


def test_same_seed_same_embeddings(fitted: NeuPRINT, recordings: list[Recording]) -> None:
    a = fitted.embed(recordings)
    pd.testing.assert_frame_equal(a, fitted.embed(recordings))
    pd.testing.assert_frame_equal(a, NeuPRINT(**TINY).fit(recordings[:2], seed=0).embed(recordings))
    other = NeuPRINT(**TINY).fit(recordings[:2], seed=1).embed(recordings)
    assert not np.allclose(a.to_numpy(), other.to_numpy())


def test_test_time_optimisation_leaves_the_model_unchanged(fitted: NeuPRINT, recordings: list[Recording]) -> None:
    before = {k: v.clone() for k, v in fitted.model_.state_dict().items()}
    fit_table = fitted.table_.clone()
    table = fitted.embed(recordings)  # includes a new animal (a1)
    after = fitted.model_.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(fit_table, fitted.table_)
    # the fresh embeddings moved away from their initialisation: the optimisation ran
    not_optimised = copy.copy(fitted)
    not_optimised.embed_steps = 0
    assert (table - not_optimised.embed(recordings)).abs().to_numpy().max() > 1e-3


def test_reoptimize_unseen_keeps_fitted_rows(recordings: list[Recording]) -> None:
    model = NeuPRINT(**{**TINY, "reoptimize": "unseen"}).fit(recordings[:2], seed=0)
    table = model.embed(recordings)
    for rec in recordings[:2]:
        for nid, key in zip(rec.neuron_ids, rec.group_keys):
            np.testing.assert_array_equal(table.loc[nid].to_numpy(), model.table_[model.keys_[key]].numpy())
    new = table.loc[recordings[2].neuron_ids].to_numpy()
    assert np.isfinite(new).all() and not np.isin(new, model.table_.numpy()).all()
    default = NeuPRINT(**TINY).fit(recordings[:2], seed=0).embed(recordings)
    assert not np.allclose(default.loc[recordings[0].neuron_ids], table.loc[recordings[0].neuron_ids])


@pytest.mark.parametrize("option", [{"forced_mask": "last_step"}, {"population_stats": "leave_one_out"},
                                    {"accumulate_grad_over_epoch": False}])
def test_correction_options_change_the_fit(option: dict, fitted: NeuPRINT, recordings: list[Recording]) -> None:
    corrected = NeuPRINT(**{**TINY, **option}).fit(recordings[:2], seed=0)
    assert not torch.equal(corrected.table_, fitted.table_)
    assert np.isfinite(corrected.embed(recordings[:1]).to_numpy()).all()


def test_bad_input(recordings: list[Recording], fitted: NeuPRINT) -> None:
    with pytest.raises(NeuronbenchError, match="fit before embed"):
        NeuPRINT(**TINY).embed(recordings)
    with pytest.raises(NeuronbenchError, match="at least one"):
        NeuPRINT(**TINY).fit([], seed=0)
    with pytest.raises(NeuronbenchError, match="forced_mask"):
        NeuPRINT(**{**TINY, "forced_mask": "first"}).fit(recordings, seed=0)
    spikes = Recording(
        dataset="toy", animal="a0", recording="s0", modality="spikes",
        neurons=pd.DataFrame({"neuron_id": [neuron_id("toy", "s0", "a")], "unit": ["a"], "track_id": None,
                              "x": np.nan, "y": np.nan, "z": np.nan}),
        t_start=0.0, t_stop=100.0, epochs=pd.DataFrame(columns=list(EPOCH_COLUMNS)),
        spike_times=np.linspace(1, 99, 50), spike_offsets=np.array([0, 50]),
    )
    with pytest.raises(NeuronbenchError, match="mixed modalities"):
        NeuPRINT(**TINY).fit([recordings[0], spikes], seed=0)
    with pytest.raises(NeuronbenchError, match="fitted on calcium"):
        fitted.embed([spikes])


def test_presets() -> None:
    paper = INFO.config("paper")
    assert (paper["embedding_dim"], paper["d_model"], paper["n_heads"], paper["ffn_dim"]) == (64, 76, 2, 2048)
    assert (paper["n_windows"], paper["batch_neurons"], paper["window_len"], paper["mask_ratio"]) == (2, 512, 200, 0.25)
    assert (paper["lr"], paper["epochs"], paper["steps_per_epoch"], paper["embed_steps"]) == (1e-3, 400, 100, 770)
    for preset in ("paper", "cpu", "tiny"):
        cfg = INFO.config(preset)
        assert cfg["device"] == "auto"
        assert (cfg["forced_mask"], cfg["population_stats"], cfg["accumulate_grad_over_epoch"]) == (
            "last_neuron", "all", True)  # the original's training; the corrections are options
        NeuPRINT(**cfg)  # every key is a constructor argument


@pytest.mark.parametrize("dataset", ["synthetic-tiny", "synthetic-tiny-calcium"])
def test_runs_through_the_harness(dataset: str, tmp_path) -> None:
    options = GridOptions(preset="tiny", device="cpu", probes=("linear",), results=tmp_path, progress=False)
    paths = run_grid(["neuprint"], dataset, ["transductive", "transductive-zero-shot", "inductive"], [0],
                     options=options)
    records = [r for _, r in iter_records(tmp_path)]
    assert len(records) == len(paths) > 0
    assert {r.setting for r in records} == {"transductive", "transductive-zero-shot", "inductive"}
    for r in records:
        assert r.status == "ok", r.reason
        assert 0.0 <= r.probes["linear"][0]["metrics"]["macro_f1"] <= 1.0
        assert r.environment["device"] == "cpu"
