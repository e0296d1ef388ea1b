"""Capability checks (issue 12, item 4): each learned method sees the channel its paper
says it reads, on tiny datasets where a two-class label lives in exactly one channel
(`neuronbench.testing_capability`: every other channel has the same distribution in both
classes).

Statistic: balanced accuracy of linear probes on held-out units (`capability.probe_score`:
one probe per recording, trained on half of its units, tested on the other half, 200 test
units in all, balanced). Chance is 0.5. When the embedding carries nothing about the
label, the number of test hits is hypergeometric, no more spread than binomial:
sd <= sqrt(0.25 / 200) = 0.035 (`capability.null_sd`). So

- "above": score >= 0.5 + 3 sd (0.606), a one-sided 0.13 % false-positive level;
- "chance": |score - 0.5| < 3 sd: a method that reads the channel, at the scores its
  "above" checks reach here (0.8-1.0), cannot pass it.

Everything is seeded (datasets, fits, probe split), so the outcome is deterministic.

Budgets: each method's ``tiny`` preset (``cpu`` for the untrained controls), with the
overrides below where the tiny budget is too small to learn; the comment at each override
gives the failure at the tiny preset and why (budget, not a bug). The whole file runs in
about 25 s on one core.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from scipy.stats import ks_2samp

from neuronbench import testing_capability as capability
from neuronbench.device import torch_threads
from neuronbench.registry import get_method

ABOVE, CHANCE = "above", "chance"

# NeuPRINT's tiny preset trains the dynamics model for 8 steps and re-optimises the
# embeddings for 4 Adam steps at lr 1e-3 (they move by ~0.004 from their uniform(-1, 1)
# start): at chance (0.505). 50 training steps and 100 embedding steps at the cpu
# preset's embedding lr (0.05) learn the coupling.
NEUPRINT = {"epochs": 5, "steps_per_epoch": 10, "embedding_lr": 0.05, "embed_steps": 100}

# NeurPIR's tiny preset (3 steps, a 2-d CEBRA after 5 iterations, 0.2-0.4 s segments, an
# 8-d encoder) is at chance (0.525 even with 60 steps and 50 CEBRA iterations): its
# segments are far shorter than the 2 s behaviour timescale. The cpu preset's network and
# segments (1-4 s) with 60 steps of 64 neurons and 50 CEBRA iterations learn it.
NEURPIR = {"steps": 60, "cebra_iterations": 50, "batch_size": 64, "n_segments": 4}
NEURPIR_NOCEBRA = {k: v for k, v in NEURPIR.items() if not k.startswith("cebra")}

# NuCLR does not learn co-activity (synchrony within 20 ms) at any budget tried, up to
# about 1,200 steps; neither does nuclr-nospatial. Not because rate alone solves its
# within-recording contrastive task (the label is worth log 2 nats to it, as much as rate,
# and the two add up), nor because it is invisible (a 20 ms coincidence count separates
# the classes in one window, AUC 0.94): NuCLR learns co-variation on a ~1 s scale within a
# test's budget but not 20 ms co-firing (docs/nuclr-population.md). Its population channel
# is guarded by tests/test_capability_population.py instead; here the check stays a strict
# xfail, which fails the day NuCLR learns co-activity within this budget.
NUCLR_BUDGET = pytest.mark.xfail(strict=True, reason="NuCLR does not learn 20 ms co-firing at any budget tried "
                                 "(see the comment above and docs/nuclr-population.md)")



def check(dataset_name: str, method: str, preset: str, overrides: dict, expected: str, marks=()):
    return pytest.param(dataset_name, method, preset, overrides, expected, marks=marks,
                        id=f"{dataset_name}-{method}-{expected}")


CHECKS: list = [
    check("coactivity", "nuclr", "tiny", {}, ABOVE, marks=NUCLR_BUDGET),
    check("coactivity", "nuclr-nospatial", "tiny", {}, CHANCE),
    check("coactivity", "population", "cpu", {}, ABOVE),
    check("coactivity", "features", "cpu", {}, CHANCE),
    check("waveform_only", "nemo", "tiny", {}, ABOVE),
    check("waveform_only", "lolcat", "tiny", {}, CHANCE),
    check("isi_only", "lolcat", "tiny", {}, ABOVE),
    check("isi_only", "features", "cpu", {}, ABOVE),
    check("isi_only", "nemo", "tiny", {}, ABOVE),
    check("behaviour_following", "neurpir", "cpu", NEURPIR, ABOVE),
    check("behaviour_following", "neurpir-nocebra", "cpu", NEURPIR_NOCEBRA, CHANCE),
    check("population_coupling", "neuprint", "tiny", NEUPRINT, ABOVE),
]


@lru_cache(maxsize=None)
def dataset(name: str) -> tuple:
    return tuple(capability.DATASETS[name]())


@lru_cache(maxsize=None)
def score(dataset_name: str, method: str, preset: str, overrides: tuple) -> tuple[float, int]:
    """(balanced accuracy, test units) of ``method`` on a capability dataset (fit on every
    recording without labels; a supervised method gets the probe-train labels only)."""
    recs = dataset(dataset_name)
    info = get_method(method)
    model = info.build(info.config(preset, device="cpu", **dict(overrides)))
    unlabelled = [r.without_labels() for r in recs]
    kwargs = {}
    if info.supervised:
        train = [i for tr, _ in capability.probe_split(recs).values() for i in tr]
        kwargs["labels"] = capability.labels_of(recs).loc[train]
    # one CPU thread, as the methods' own presets choose: on a shared 2-core machine two
    # threads were several times slower (methods without a ``threads`` key get it here)
    with torch_threads(1):
        model.fit(unlabelled, seed=0, **kwargs)
        embedding = model.embed(unlabelled)
    return capability.probe_score(embedding, recs)


@pytest.mark.parametrize(("dataset_name", "method", "preset", "overrides", "expected"),
                         CHECKS)
def test_capability(dataset_name: str, method: str, preset: str, overrides: dict, expected: str) -> None:
    value, n_test = score(dataset_name, method, preset, tuple(sorted(overrides.items())))
    margin = 3 * capability.null_sd(n_test)
    if expected == ABOVE:
        assert value >= 0.5 + margin, f"{method} on {dataset_name}: {value:.3f} < chance 0.5 + {margin:.3f}"
    else:
        assert abs(value - 0.5) < margin, f"{method} on {dataset_name}: {value:.3f} is not chance (0.5 +- {margin:.3f})"


def test_neurpir_reads_the_behaviour_only_through_cebra() -> None:
    """neurpir above neurpir-nocebra by more than the spread of a difference of two null
    scores (3 sqrt(2) sd)."""
    with_cebra, n = score("behaviour_following", "neurpir", "cpu", tuple(sorted(NEURPIR.items())))
    without, _ = score("behaviour_following", "neurpir-nocebra", "cpu", tuple(sorted(NEURPIR_NOCEBRA.items())))
    assert with_cebra - without > 3 * 2**0.5 * capability.null_sd(n)


# --- the datasets ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(capability.DATASETS))
def test_datasets_are_balanced_seeded_and_valid(name: str) -> None:
    make = capability.DATASETS[name]
    recs = make(n_units=20, duration_s=30.0)
    again = make(n_units=20, duration_s=30.0)
    other = make(n_units=20, duration_s=30.0, seed=1)
    first, second = capability.CLASSES[name]
    for rec, rec2, rec3 in zip(recs, again, other):
        rec.validate()
        labels = rec.labels[capability.LABEL]
        assert (labels == first).sum() == (labels == second).sum() == 10
        assert np.array_equal(rec.spike_times, rec2.spike_times)
        assert not np.array_equal(rec.spike_times[:50], rec3.spike_times[:50])
        assert rec.waveforms is not None and rec.waveforms.shape == (20, 90)


@pytest.mark.parametrize("name", sorted(capability.DATASETS))
def test_rates_have_the_same_distribution_in_both_classes(name: str) -> None:
    """Per-unit rates of the two classes: a two-sample KS test finds no difference (the
    rate is never the channel), and the mean rates agree within 10 %."""
    recs = dataset(name)
    first, second = capability.CLASSES[name]
    rates = {c: np.concatenate([rec.spike_counts()[rec.labels[capability.LABEL].to_numpy() == c] / rec.duration
                                for rec in recs]) for c in (first, second)}
    assert ks_2samp(rates[first], rates[second]).pvalue > 0.01
    assert abs(rates[first].mean() / rates[second].mean() - 1.0) < 0.1


def test_the_probe_split_halves_every_class_of_every_recording() -> None:
    recs = dataset("isi_only")
    split = capability.probe_split(recs)
    labels = capability.labels_of(recs)
    for rec in recs:
        train, test = split[rec.recording]
        assert not set(train) & set(test) and len(train) + len(test) == rec.n_units
        assert labels.loc[test].value_counts().tolist() == [rec.n_units // 4] * 2
    assert split == capability.probe_split(recs)


def test_null_sd_is_the_binomial_spread() -> None:
    assert capability.null_sd(200) == pytest.approx(0.5 / np.sqrt(200))
    rng = np.random.default_rng(0)  # a random guess on 200 balanced units, many times
    truth = np.repeat([0, 1], 100)
    hits = [(rng.integers(0, 2, 200) == truth).mean() for _ in range(4000)]
    assert np.std(hits) == pytest.approx(capability.null_sd(200), rel=0.1)
