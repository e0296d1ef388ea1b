"""NuCLR's population channel, checked behaviourally (issue 27, item 4).

On `neuronbench.testing_capability.assemblies` (three classes: units in assemblies of
32, 16 or 4 units, every unit the same Poisson process modulated by one shifted latent)
only whom a unit co-varies with tells the classes apart. NuCLR (tiny preset, 400 steps,
about 35 s on one core) learns it; NuCLR without attention across units does not, and
neither does the same fitted NuCLR when, at embed time, each unit attends only to
itself (`Encoder.units_alone`: every parameter kept). The last check is the one that
goes red when the population channel is cut.

NuCLR does not learn `coactivity` at any budget a test can afford (tests/test_capability.py,
docs/nuclr-population.md: its label lives in 20 ms coincidences inside 1 s tokens).

Statistic and bounds as in tests/test_capability.py: per-recording linear probes
(`capability.probe_score`), balanced classes, 96 test units; chance 1/3, sd <=
`capability.null_sd(96, 3)` = 0.048; "above" >= chance + 3 sd (0.478), "chance" within
3 sd of 1/3. Seeded datasets, fits and probe split, one thread: deterministic.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from scipy.stats import ks_2samp

from neuronbench.testing_capability import assemblies, assembly_classes
from neuronbench import testing_capability as capability
from neuronbench.device import torch_threads
from neuronbench.registry import get_method

BUDGET = {"epochs_spikes": 80}  # the tiny preset's 2 epochs learn nothing yet (docs/nuclr-population.md)
N_CLASSES = 3


@lru_cache(maxsize=None)
def dataset() -> tuple:
    return tuple(assemblies())


@lru_cache(maxsize=None)
def fitted(method: str):
    info = get_method(method)
    model = info.build(info.config("tiny", device="cpu", **BUDGET))
    with torch_threads(1):
        return model.fit([r.without_labels() for r in dataset()], seed=0)


def score(model, *, alone: bool = False) -> tuple[float, int]:
    unlabelled = [r.without_labels() for r in dataset()]
    with torch_threads(1):
        if alone:
            with model.encoder_.units_alone():
                embedding = model.embed(unlabelled)
        else:
            embedding = model.embed(unlabelled)
    return capability.probe_score(embedding, dataset())


def margin(n_test: int) -> float:
    return 3 * capability.null_sd(n_test, N_CLASSES)


def test_nuclr_learns_assemblies_and_loses_them_without_attention_across_units() -> None:
    model = fitted("nuclr")
    with_context, n = score(model)
    alone, _ = score(model, alone=True)
    assert with_context >= 1 / N_CLASSES + margin(n), f"nuclr: {with_context:.3f} not above chance"
    assert abs(alone - 1 / N_CLASSES) < margin(n), f"nuclr, units alone at embed: {alone:.3f} is not chance"
    assert not model.encoder_.alone  # the switch is undone on leaving the block


def test_nuclr_nospatial_does_not_learn_assemblies() -> None:
    value, n = score(fitted("nuclr-nospatial"))
    assert abs(value - 1 / N_CLASSES) < margin(n), f"nuclr-nospatial: {value:.3f} is not chance"


def test_units_alone_is_spatial_attention_with_an_identity_mask() -> None:
    """Inside `units_alone` the encoder equals one whose spatial attention runs with an
    identity mask over the units (so each unit's output is its own value), the
    parameters are untouched, and leaving the block restores the attention."""
    import importlib

    import torch
    import torch.nn.functional as F

    info = get_method("nuclr")
    encoder, _ = info.build(info.config("tiny", device="cpu")).build_modules("spikes", torch.device("cpu"))
    encoder.eval()
    torch.manual_seed(0)
    tokens = torch.rand(6, 5, 50)
    model_module = importlib.import_module(type(encoder).__module__)  # the registered NuCLR's own model.py
    layout = model_module.Layout(torch.arange(6), torch.ones(1, 6, dtype=torch.bool))
    before = {k: v.clone() for k, v in encoder.state_dict().items()}

    def identity_masked(attn, x, _layout, alone=False):
        u, n_tok, _ = x.shape
        q, k, v = attn.qkv(attn.norm(x)).view(u, n_tok, 3, attn.heads, attn.dim_head).permute(2, 1, 3, 0, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=torch.eye(u, dtype=torch.bool))  # (L, H, U, dh)
        return attn.out(y.permute(2, 0, 1, 3).reshape(u, n_tok, -1))

    with torch.no_grad():
        full = encoder(tokens, layout)
        with encoder.units_alone():
            alone = encoder(tokens, layout)
        attention = type(encoder.spatiotemporal[0][0])
        original = attention.spatial
        attention.spatial = identity_masked
        try:
            reference = encoder(tokens, layout)
        finally:
            attention.spatial = original
        again = encoder(tokens, layout)
    assert torch.allclose(alone, reference, atol=1e-6)
    assert not torch.allclose(alone, full, atol=1e-3)  # the other units did matter
    assert torch.equal(again, full)
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())


# --- the dataset -------------------------------------------------------------------------


def test_assemblies_are_balanced_seeded_and_valid() -> None:
    recs, again, other = assemblies(), assemblies(), assemblies(seed=1)
    for rec, rec2, rec3 in zip(recs, again, other):
        rec.validate()
        assert rec.labels[capability.LABEL].value_counts().to_dict() == {c: 32 for c in assembly_classes((32, 16, 4))}
        assert np.array_equal(rec.spike_times, rec2.spike_times)
        assert not np.array_equal(rec.spike_times[:50], rec3.spike_times[:50])
    with pytest.raises(ValueError, match="multiple of every size"):
        assemblies(sizes=(32, 5))


def test_a_units_own_rate_does_not_tell_the_classes_apart() -> None:
    """Per-unit rates in 5 s windows (NuCLR's tiny read-out windows), pooled over
    windows: the same distribution in every class (two-sample KS), because every class
    plays the same blocks of one latent."""
    recs = dataset()
    counts: dict[str, list] = {}
    for rec in recs:
        labels = rec.labels[capability.LABEL].to_numpy()
        for i in range(rec.n_units):
            t = rec.spike_times[rec.spike_offsets[i]:rec.spike_offsets[i + 1]]
            counts.setdefault(labels[i], []).append(np.bincount((t // 5.0).astype(int), minlength=24))
    pooled = {c: np.concatenate(v) for c, v in counts.items()}
    first, *rest = sorted(pooled)
    for c in rest:
        assert ks_2samp(pooled[first], pooled[c]).pvalue > 0.01
