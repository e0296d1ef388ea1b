"""Paired comparison of two methods in one (dataset, task, setting): the difference of a
metric with a 95 % confidence interval.

Protocol (``evaluation.md``, "Seeds and variance"): variance is reported at two levels,
encoder pretraining seeds and probe seeds, and "comparing two methods: paired over the
same seeds and folds (the paired difference and its spread), not two independent error
bars". The difference is scored exactly as the leaderboard scores a cell: per encoder
seed, the metric of the predictions pooled over all folds of the setting, averaged over
the method's probe seeds; the difference is the mean over the encoder seeds both methods
have of the per-seed differences (equal to the difference of the two cells' means when
they have the same seeds). Only shared encoder seeds count (a seed one method lacks
cannot be paired); `PairedDifference.n_seeds` says how many there were.

The interval: a paired two-level bootstrap, percentile interval of `N_BOOT` replicates.
A replicate draws the shared encoder seeds with replacement and the test neurons (pooled
over folds) with replacement, and averages over the drawn seeds the paired difference of
each drawn seed on the drawn neurons (each method's score recomputed on them, every probe
seed, averaged). Paired twice: the same neuron draw is scored for both methods, because
both were tested on the same neurons of the same split; and every encoder seed tested on
the same neurons (the harness uses one split for all seeds) is scored on the same draw,
because the test set is one sample shared by the seeds: seeds and neurons are crossed,
not nested, and drawing the neurons anew for each seed would average the test-set
variance away over seeds. Resampling both crossed factors independently is Owen's
pigeonhole bootstrap (Owen 2007, Ann. Appl. Stat. 1:386-411), mildly conservative. Seeds
tested on different neurons (a split that varied with the seed) get independent draws.
Why this and
not the alternatives:

- a paired t-test over encoder seeds: with the default 3 seeds it has 2 degrees of freedom
  (t = 4.30 at 95 %) and takes each seed's score as exact, ignoring that the test neurons
  are a sample (with a few hundred test neurons, often the larger part of the variance);
- a bootstrap over neurons alone treats the encoder seeds as fixed and so ignores
  pretraining variance, the spread the cells report;
- the two-level bootstrap covers both; probe-seed variance enters through the probe-seed
  average of each drawn seed, as in the cells.

The difference is *significant* when the interval excludes 0 (``ci_low > 0`` or
``ci_high < 0``). The bootstrap seed is fixed (`BOOTSTRAP_SEED`), so the same predictions
always give the same interval and the leaderboard regenerates byte-identically.

Limits, read the interval as approximate: with few encoder seeds the seed level of the
bootstrap is coarse (3 seeds give 10 distinct multisets, and resampling shrinks the
between-seed variance by (S - 1) / S); with one shared seed only the neuron level
remains. Neurons are resampled one by one, although neurons of one animal are
correlated; in zero-shot settings with few test animals the interval is then too narrow
(a deliberate simplification: the animal is not a field of every dataset's neuron ids).
Seeds tested on different neurons get one draw per seed, reused if the seed is drawn
twice in a replicate.

This module does not import the harness or torch.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.constants import BOOTSTRAP_SEED, LEVEL, MAIN_METRIC, METRICS, N_BOOT
from neuronbench.protocol.metrics import classification_metrics

__all__ = ["BOOTSTRAP_SEED", "LEVEL", "N_BOOT", "PairedDifference", "SeedPredictions", "paired_difference"]

_CHUNK = 2_000_000  # neuron draws held in memory at once (replicates x neurons)


@dataclass(frozen=True)
class SeedPredictions:
    """One method's test predictions of one encoder seed, pooled over the setting's folds:
    ``neuron_ids`` (unique keys, e.g. ``(fold, neuron_id)``), ``y_true`` aligned with them,
    and ``y_pred``: one list of predicted labels per probe seed, each aligned with ``y_true``."""

    neuron_ids: Sequence[Hashable]
    y_true: Sequence[Hashable]
    y_pred: Sequence[Sequence[Hashable]]


@dataclass(frozen=True)
class PairedDifference:
    """First method minus second of one metric: ``diff`` over the ``n_seeds`` shared encoder
    seeds and its bootstrap interval ``[ci_low, ci_high]``; all NaN when no seed is shared."""

    metric: str
    diff: float
    ci_low: float
    ci_high: float
    n_seeds: int

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0."""
        return self.ci_low > 0 or self.ci_high < 0


def _aligned(a: SeedPredictions, b: SeedPredictions, seed: int) -> tuple[list, list[list], list[list]]:
    """``y_true`` and both methods' predictions in the neuron order of ``a``; the two must
    hold the same neurons with the same labels."""
    for name, p in (("first", a), ("second", b)):
        if len(set(p.neuron_ids)) != len(p.neuron_ids) or len(p.y_true) != len(p.neuron_ids):
            raise NeuronbenchError(f"encoder seed {seed}: the {name} method's neuron ids are not unique or not "
                                   "aligned with y_true")
        if not p.y_pred or any(len(y) != len(p.y_true) for y in p.y_pred):
            raise NeuronbenchError(f"encoder seed {seed}: the {name} method needs at least one probe seed's "
                                   "predictions, each aligned with y_true")
    position = {key: i for i, key in enumerate(b.neuron_ids)}
    if set(position) != set(a.neuron_ids):
        only_a, only_b = len(set(a.neuron_ids) - set(position)), len(set(position) - set(a.neuron_ids))
        raise NeuronbenchError(f"encoder seed {seed}: the two methods were tested on different neurons ({only_a} "
                               f"only in the first, {only_b} only in the second); a paired comparison needs the "
                               "same test neurons")
    order = [position[key] for key in a.neuron_ids]
    if [b.y_true[i] for i in order] != list(a.y_true):
        raise NeuronbenchError(f"encoder seed {seed}: the two methods' records give the same neurons different "
                               "labels")
    return list(a.y_true), [list(y) for y in a.y_pred], [[y[i] for i in order] for y in b.y_pred]


def _codes(labels: Sequence[Hashable], order: list[int], index: dict[Hashable, int]) -> np.ndarray:
    """Class indices of ``labels`` taken in ``order``."""
    return np.array([index[labels[i]] for i in order])


def _scores(cm: np.ndarray, metrics: Sequence[str]) -> np.ndarray:
    """Each metric of a stack of confusion matrices ``(..., k, k)`` (rows true, columns
    predicted), with `classification_metrics`'s definitions: shape ``(len(metrics), ...)``."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    n_true, n_pred = cm.sum(axis=-1), cm.sum(axis=-2)
    denominator = n_true + n_pred  # 2 TP + FP + FN; F1 undefined (left out) where 0
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    recall = np.divide(tp, n_true, out=np.zeros_like(tp), where=n_true > 0)
    values = {
        "macro_f1": lambda: f1.sum(axis=-1) / (denominator > 0).sum(axis=-1),
        "accuracy": lambda: tp.sum(axis=-1) / n_true.sum(axis=-1),
        "balanced_accuracy": lambda: recall.sum(axis=-1) / (n_true > 0).sum(axis=-1),
    }
    return np.stack([values[m]() for m in metrics])


def _neuron_bootstrap(runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]], k: int, metrics: Sequence[str],
                      n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(len(metrics), len(runs), n_boot)`` paired differences of encoder seeds tested on
    the same ``n`` neurons, replicate r of every seed scored on the same draw r with
    replacement of those neurons. ``runs``: per seed, true class codes ``(n,)`` and the
    predicted codes of each method ``(probe seeds, n)``, in one neuron order. Vectorised:
    a draw is a count per neuron, and the confusion matrices of every probe seed of both
    methods are these counts times a sparse one-hot (neuron -> run, true class, predicted
    class)."""
    n = len(runs[0][0])
    onehots = []
    for t, preds_a, preds_b in runs:
        predicted = np.vstack([preds_a, preds_b])
        cells = np.arange(len(predicted))[:, None] * k * k + t[None, :] * k + predicted
        rows_cols = (cells.ravel(), np.tile(np.arange(n), len(cells)))
        onehots.append(scipy.sparse.csr_matrix((np.ones(cells.size), rows_cols), shape=(len(cells) * k * k, n)))
    out = np.empty((len(metrics), len(runs), n_boot))
    step = max(1, _CHUNK // n)
    for start in range(0, n_boot, step):
        m = min(step, n_boot - start)
        draws = rng.integers(n, size=(m, n)) + np.arange(m)[:, None] * n
        counts_t = np.bincount(draws.ravel(), minlength=m * n).reshape(m, n).T.astype(float)
        for j, ((_, preds_a, _), onehot) in enumerate(zip(runs, onehots)):
            cm = np.asarray(onehot @ counts_t).T.reshape(m, -1, k, k)
            scores = _scores(cm, metrics)  # (metrics, m, probe seeds of a then of b)
            out[:, j, start:start + m] = (scores[..., :len(preds_a)].mean(axis=-1)
                                          - scores[..., len(preds_a):].mean(axis=-1))
    return out


def paired_difference(a: Mapping[int, SeedPredictions], b: Mapping[int, SeedPredictions], classes: Sequence[Hashable],
                      metrics: Sequence[str] = (MAIN_METRIC,), n_boot: int = N_BOOT,
                      seed: int = BOOTSTRAP_SEED) -> dict[str, PairedDifference]:
    """Method ``a`` minus method ``b`` for each of ``metrics`` (``macro_f1``, ``accuracy``,
    ``balanced_accuracy``), over the encoder seeds both have, with the paired two-level
    bootstrap interval of the module docstring. ``a`` and ``b`` map encoder seed ->
    `SeedPredictions`; labels must be among ``classes`` (the task's classes, over which
    the metric is computed).

    Raises:
        NeuronbenchError: an unknown metric, a label outside ``classes``, or, in a shared
            seed, predictions not aligned with y_true or the two methods tested on
            different neurons or labels.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise NeuronbenchError(f"unknown metric(s) {unknown}: expected some of {list(METRICS)}")
    if n_boot < 1:
        raise NeuronbenchError(f"n_boot is {n_boot}: expected at least 1 bootstrap replicate")
    shared = sorted(set(a) & set(b))
    if not shared:
        return {m: PairedDifference(m, math.nan, math.nan, math.nan, 0) for m in metrics}
    classes = list(classes)
    index = {c: i for i, c in enumerate(classes)}
    point = np.empty((len(metrics), len(shared)))
    test_sets: dict[frozenset, list[int]] = {}  # the seeds tested on each set of neurons
    codes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for j, s in enumerate(shared):
        y_true, preds_a, preds_b = _aligned(a[s], b[s], s)
        # the point estimate with the one scorer (it also validates every label)
        scores_a = [classification_metrics(y_true, y, classes) for y in preds_a]
        scores_b = [classification_metrics(y_true, y, classes) for y in preds_b]
        for i, metric in enumerate(metrics):
            point[i, j] = np.mean([x[metric] for x in scores_a]) - np.mean([x[metric] for x in scores_b])
        # codes in one neuron order per test set, so that a draw means the same neurons for every seed
        seeds_of_set = test_sets.setdefault(frozenset(a[s].neuron_ids), [])
        seeds_of_set.append(j)
        position = {key: i for i, key in enumerate(a[s].neuron_ids)}
        order = [position[key] for key in a[shared[seeds_of_set[0]]].neuron_ids]
        codes.append((_codes(y_true, order, index), np.array([_codes(y, order, index) for y in preds_a]),
                      np.array([_codes(y, order, index) for y in preds_b])))
    rng = np.random.default_rng(seed)
    boot = np.empty((len(metrics), len(shared), n_boot))
    for seeds in test_sets.values():
        boot[:, seeds] = _neuron_bootstrap([codes[j] for j in seeds], len(classes), metrics, n_boot, rng)
    # seed level: replicate r draws the shared seeds with replacement and takes each drawn
    # seed's score on neuron draw r (the same neurons for every seed of a test set)
    picks = rng.integers(len(shared), size=(n_boot, len(shared)))
    replicates = boot[:, picks, np.arange(n_boot)[:, None]].mean(axis=-1)  # (metrics, n_boot)
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail], axis=-1)
    return {metric: PairedDifference(metric, float(point[i].mean()) + 0.0, float(low[i]) + 0.0,
                                     float(high[i]) + 0.0, len(shared))
            for i, metric in enumerate(metrics)}
