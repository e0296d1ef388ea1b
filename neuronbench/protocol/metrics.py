"""Scores of one set of predictions, and the chance levels stored with each task.

Protocol (``evaluation.md``, "Metrics"): the primary metric is macro-F1 over the task's
classes; top-1 accuracy, balanced accuracy, per-class F1 and the confusion matrix come
from the same predictions. Each task also stores two chance levels: the macro-F1 of a
uniform random guess and of always predicting the majority class (`chance_levels`);
`chance_by_metric` gives both chance levels of every metric, for the leaderboard.

Definitions used here (all values are plain ``float``/``int`` or ``None``, never NaN, so
the results go straight into JSON):

- per-class F1 of class c: ``2 TP / (2 TP + FP + FN)``; ``None`` if c occurs neither in
  ``y_true`` nor in ``y_pred`` (F1 undefined), 0.0 if it occurs but is never hit.
- macro-F1: mean of the defined per-class F1s, i.e. over the task's classes that occur
  in ``y_true`` or ``y_pred`` (scikit-learn's ``f1_score(average="macro")``).
- balanced accuracy: mean recall over the classes that occur in ``y_true``
  (scikit-learn's ``balanced_accuracy_score``).

This module does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import binom

from neuronbench.errors import NeuronbenchError

from neuronbench.protocol.constants import MAIN_METRIC, METRICS

__all__ = ["MAIN_METRIC", "METRICS", "classification_metrics", "chance_by_metric", "chance_levels", "macro_f1"]


def _check_classes(classes: Sequence[str]) -> list:
    """The task's classes as a list; non-empty and without duplicates."""
    classes = list(classes)
    if not classes:
        raise NeuronbenchError("classes is empty: a task needs at least one class")
    if len(set(classes)) != len(classes):
        duplicated = sorted({str(c) for c in classes if classes.count(c) > 1})
        raise NeuronbenchError(f"classes has duplicates: {duplicated}")
    return classes


def _encode(labels: Sequence[str], index: dict, what: str, classes: list) -> np.ndarray:
    """Class indices of ``labels``; a label outside the task's classes is an error."""
    codes = np.empty(len(labels), dtype=np.int64)
    for i, label in enumerate(labels):
        try:
            codes[i] = index[label]
        except (KeyError, TypeError):
            raise NeuronbenchError(
                f"{what} contains the label {label!r} (position {i}), which is not one of "
                f"the task's classes {classes}"
            ) from None
    return codes


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> dict:
    """All metrics of one set of predictions (definitions in the module docstring).

    Returns ``macro_f1`` (primary), ``accuracy`` (top-1), ``balanced_accuracy``,
    ``per_class_f1`` ({class: F1 or None}), ``confusion_matrix`` (list of lists of ints,
    rows = true class, columns = predicted class, both in ``classes`` order) and ``n``.

    Raises:
        NeuronbenchError: empty or unequal-length inputs, duplicated classes, or a label
            outside ``classes`` (the message names it).
    """
    classes = _check_classes(classes)
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise NeuronbenchError(
            f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}: they must match"
        )
    if not y_true:
        raise NeuronbenchError("no predictions to score: y_true is empty")
    index = {c: i for i, c in enumerate(classes)}
    t = _encode(y_true, index, "y_true", classes)
    p = _encode(y_pred, index, "y_pred", classes)

    k = len(classes)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    tp = np.diag(cm)
    n_true = cm.sum(axis=1)  # TP + FN
    n_pred = cm.sum(axis=0)  # TP + FP

    per_class_f1: dict[str, float | None] = {}
    for i, c in enumerate(classes):
        denominator = n_true[i] + n_pred[i]  # = 2 TP + FP + FN
        per_class_f1[str(c)] = float(2 * tp[i] / denominator) if denominator > 0 else None
    defined = [f for f in per_class_f1.values() if f is not None]
    recalls = [tp[i] / n_true[i] for i in range(k) if n_true[i] > 0]

    return {
        "macro_f1": float(np.mean(defined)),
        "accuracy": float(tp.sum() / len(y_true)),
        "balanced_accuracy": float(np.mean(recalls)),
        "per_class_f1": per_class_f1,
        "confusion_matrix": cm.tolist(),
        "n": len(y_true),
    }


def macro_f1(y_true: Sequence, y_pred: Sequence) -> float:
    """Macro-F1 over the classes occurring in ``y_true`` or ``y_pred`` (the probes' validation
    score, on labels of any kind): `classification_metrics` without a task's class list."""
    y_true, y_pred = np.asarray(y_true).tolist(), np.asarray(y_pred).tolist()
    return classification_metrics(y_true, y_pred, sorted(set(y_true) | set(y_pred)))["macro_f1"]


def chance_by_metric(y_true: Sequence[str], classes: Sequence[str]) -> dict:
    """Each metric's value for two trivial predictors on the labels ``y_true``:
    ``{metric: {"uniform": x, "majority": y}}`` for ``macro_f1``, ``accuracy`` and
    ``balanced_accuracy``.

    ``uniform``: the expected value when each label is guessed independently and uniformly
    among the K ``classes``.

    - accuracy: every guess is right with probability 1/K, so 1/K (exact).
    - balanced accuracy: each class's recall has expectation 1/K, hence so has their mean
      over the classes present in ``y_true``: 1/K (exact).
    - macro-F1: for a class c with n_c of the n labels, let S ~ Binomial(n, 1/K) be the
      number of times c is guessed; then F1_c = 2 TP / (S + n_c), and given S = s, TP is
      hypergeometric with mean s n_c / n, so
      ``E[F1_c] = sum_s P(S = s) * 2 s n_c / (n (s + n_c))`` (exact, computed from the
      counts, no simulation). The expectation of the mean is the mean of the K
      expectations. A class absent from ``y_true`` scores F1 0 whenever it is guessed and
      is left out of the average when it is not; we always count it (as guessed), which
      is off by at most m (1 - 1/K)^n for m absent classes (below 1e-9 once n >= 200
      with K <= 10). With every class present the value is exact.

    ``majority``: the metric (same definitions as `classification_metrics`) of always
    predicting the most frequent class; ties go to the class listed first in ``classes``.
    So accuracy is the majority class's share, balanced accuracy 1 / (number of classes
    present in ``y_true``), i.e. 1/K when all are present, and macro-F1
    2 n_max / (n + n_max) over the classes present.
    """
    classes = _check_classes(classes)
    y_true = list(y_true)
    if not y_true:
        raise NeuronbenchError("cannot compute chance levels: y_true is empty")
    index = {c: i for i, c in enumerate(classes)}
    counts = np.bincount(_encode(y_true, index, "y_true", classes), minlength=len(classes))

    n, k = len(y_true), len(classes)
    s = np.arange(n + 1)
    p_s = binom.pmf(s, n, 1.0 / k)
    expected_f1 = [
        float(np.sum(p_s * 2.0 * s * n_c / (n * (s + n_c)))) if n_c > 0 else 0.0
        for n_c in counts
    ]
    majority = classes[int(np.argmax(counts))]  # argmax: first of the tied maxima
    scores = classification_metrics(y_true, [majority] * n, classes)
    uniform = {"macro_f1": float(np.mean(expected_f1)), "accuracy": 1.0 / k, "balanced_accuracy": 1.0 / k}
    return {m: {"uniform": uniform[m], "majority": scores[m]} for m in uniform}


def chance_levels(y_true: Sequence[str], classes: Sequence[str]) -> dict:
    """The chance levels stored in every record: ``uniform_macro_f1`` and
    ``majority_macro_f1``, the macro-F1 entries of `chance_by_metric`."""
    f1 = chance_by_metric(y_true, classes)["macro_f1"]
    return {"uniform_macro_f1": f1["uniform"], "majority_macro_f1": f1["majority"]}
