"""The one scorer: every number of neuronbench is made here (OGB's single ``Evaluator``
in spirit), so that a run's record, the leaderboard, ``neuronbench score`` and the
analysis scripts cannot score differently.

- `score_fold`: frozen embedding -> probes -> metrics on one fold. Every probe is tuned
  on the validation ids only and scored on the test ids. The linear probe is
  deterministic, so it runs once (first probe seed); the stochastic probes (MLP,
  XGBoost) run once per probe seed (``evaluation.md``).
- `pooled_score`: a setting with several folds is scored on the predictions pooled over
  its folds (NuCLR's protocol for leave-one-animal-out folds; one fold pools trivially),
  once per probe seed over the task's classes; the scores of the probe seeds are
  averaged. One number per metric and encoder seed.
- `pooled_chance`: every metric's two chance levels on the test labels pooled over folds.

The metrics and chance levels themselves are defined in `neuronbench.protocol.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.constants import DETERMINISTIC_PROBES, METRICS, PROBA_DECIMALS
from neuronbench.protocol.metrics import chance_by_metric, chance_levels, classification_metrics

__all__ = ["DETERMINISTIC_PROBES", "FoldPredictions", "class_probabilities", "pooled_chance", "pooled_score", "predictions", "score_fold", "test_labels"]

FoldPredictions = tuple[Sequence[str], Mapping[int, Sequence[str]]]
"""One fold's test labels and, per probe seed, the predicted labels aligned with them."""


def score_fold(
    embeddings: pd.DataFrame,
    labels: Mapping[str, str] | pd.Series,
    train: Sequence[str],
    val: Sequence[str],
    test: Sequence[str],
    classes: Sequence[str],
    probes: Sequence[str],
    probe_seeds: Sequence[int],
    make_probe: Callable[[str, int], Any],
    probabilities: bool = True,
) -> dict[str, Any]:
    """Fit and score every probe on one fold; ``make_probe(name, seed)`` builds a probe
    (`neuronbench.probes.make_probe`: passed in, so that the protocol does not import the
    harness).

    Returns ``{"y_true": {neuron_id, label}, "chance": {...}, "probes": {name: [entry]}}``
    where an entry is ``{probe_seed, params, metrics, y_pred, proba}``: the scored part of a
    run record (`neuronbench.protocol.record`). ``proba`` holds each test neuron's class
    probabilities, columns in ``classes`` order (0 for a class absent from probe training),
    rounded to `PROBA_DECIMALS` (left out with ``probabilities=False``); ``y_pred`` is the
    probe's own prediction.
    """
    labels = pd.Series(labels)

    def xy(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        ids = list(ids)
        return embeddings.loc[ids].to_numpy(dtype=np.float64), labels.loc[ids].to_numpy(dtype=object).astype(str)

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = xy(train), xy(val), xy(test)
    out: dict[str, Any] = {
        "y_true": {"neuron_id": list(test), "label": y_te.tolist()},
        "chance": chance_levels(y_te.tolist(), classes),
        "probes": {},
    }
    has_val = len(val) > 0
    for name in probes:
        entries = []
        for seed in probe_seeds[:1] if name in DETERMINISTIC_PROBES else probe_seeds:
            probe = make_probe(name, seed)
            if has_val:
                probe.fit(x_tr, y_tr, X_val=x_va, y_val=y_va)
            else:
                probe.fit(x_tr, y_tr)
            y_pred = np.asarray(probe.predict(x_te)).astype(str)
            entry = {
                "probe_seed": int(seed),
                "params": getattr(probe, "best_params_", None),
                "metrics": classification_metrics(y_te.tolist(), y_pred.tolist(), classes),
                "y_pred": y_pred.tolist(),
            }
            if probabilities:
                entry["proba"] = class_probabilities(probe.predict_proba(x_te), probe.classes_, classes).tolist()
            entries.append(entry)
        out["probes"][name] = entries
    return out


def class_probabilities(proba: np.ndarray, probe_classes: Sequence[Any], classes: Sequence[str]) -> np.ndarray:
    """``proba`` (columns in ``probe_classes`` order) with its columns in ``classes`` order,
    rounded to `PROBA_DECIMALS`; a class the probe never saw gets probability 0."""
    out = np.zeros((proba.shape[0], len(classes)), dtype=np.float64)
    column = {str(c): i for i, c in enumerate(classes)}
    for j, c in enumerate(probe_classes):
        out[:, column[str(c)]] = proba[:, j]
    return np.round(out, PROBA_DECIMALS)


def test_labels(scored: Mapping[str, Any], where: str = "fold") -> list[str]:
    """The test labels of a fold's scores (`score_fold`'s output or a record's fields),
    checked: ``where`` names the source in errors."""
    y_true = (scored.get("y_true") or {}).get("label")
    if not isinstance(y_true, list):
        raise NeuronbenchError(f"{where}: field 'y_true.label': expected a list for a run with status 'ok'")
    return y_true


def predictions(scored: Mapping[str, Any], probe: str, where: str = "fold") -> FoldPredictions:
    """The test labels and each probe seed's predictions of ``probe`` in a fold's scores
    (`score_fold`'s output or a record's fields), checked: ``where`` names the source in errors."""
    y_true = test_labels(scored, where)
    entries = (scored.get("probes") or {}).get(probe)
    if not entries:
        raise NeuronbenchError(f"{where}: field 'probes.{probe}': expected at least one probe seed")
    by_seed = {}
    for entry in entries:
        y_pred = entry.get("y_pred")
        if not isinstance(y_pred, list) or len(y_pred) != len(y_true):
            raise NeuronbenchError(
                f"{where}: field 'probes.{probe}[probe_seed={entry.get('probe_seed')}].y_pred': expected a list "
                f"of {len(y_true)} labels aligned with y_true"
            )
        by_seed[entry["probe_seed"]] = y_pred
    return y_true, by_seed


def pool_folds(folds: Sequence[FoldPredictions],
               where: Sequence[str] | None = None) -> tuple[list[str], dict[int, list[str]]]:
    """The test labels of all ``folds`` in order, and per probe seed their predictions in
    the same order. Every fold must hold the same probe seeds (``where``: one name per
    fold, for the error)."""
    if not folds:
        raise NeuronbenchError("nothing to score: no fold")
    y_true: list[str] = []
    pooled: dict[int, list[str]] = {}
    for labels, by_seed in folds:
        if pooled and set(by_seed) != set(pooled):
            names = ", ".join(where) if where else f"{len(folds)} folds"
            raise NeuronbenchError(f"probe seeds differ across folds: {names}")
        y_true += labels
        for probe_seed, y_pred in by_seed.items():
            pooled.setdefault(probe_seed, []).extend(y_pred)
    return y_true, pooled


def pooled_score(folds: Sequence[FoldPredictions], classes: Sequence[str],
                 where: Sequence[str] | None = None) -> dict[str, float]:
    """Every metric of `METRICS` for one encoder seed: per probe seed, the predictions of
    all ``folds`` pooled (`pool_folds`) and scored over ``classes``; then the mean over
    probe seeds."""
    y_true, pooled = pool_folds(folds, where)
    scores = [classification_metrics(y_true, y_pred, classes) for y_pred in pooled.values()]
    return {m: float(np.mean([s[m] for s in scores])) for m in METRICS}


def pooled_chance(fold_labels: Sequence[Sequence[str]], classes: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each metric's chance levels (`chance_by_metric`) of the test labels of every fold,
    pooled in the order given."""
    return chance_by_metric([y for labels in fold_labels for y in labels], classes)
