"""Score precomputed embeddings that a user brings as a Parquet file.

The file holds a neuron id column, the embedding columns and the label (plus any
grouping column such as session or lab). Folds are made by hashing ids, like every
neuronbench split:

- ``--split-by neuron``: one stratified split (20 % test, 20 % of the rest for
  validation), the transductive rule of `neuronbench.splits`.
- ``--split-by COLUMN`` (e.g. ``eid`` for sessions, ``lab``): group k-fold: the groups
  are ranked by their hash and dealt in turn to `GROUP_FOLDS` folds (so that no fold is
  empty; with fewer groups, one fold per group), a fold's groups are never in its
  training side, validation is a hashed 20 % of the training groups, and the
  predictions of all folds are pooled before scoring.

Without ``--prefix`` the embedding is every numeric column except the label and the
grouping column. A test set with fewer than `MIN_TEST_PER_CLASS` neurons of a class (or
none) in a fold is reported on stderr: its scores are too noisy to compare methods.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from neuronbench.embeddings import read_user_embeddings
from neuronbench.errors import NeuronbenchError
from neuronbench.probes import make_probe
from neuronbench.protocol.metrics import chance_levels
from neuronbench.protocol.scoring import pooled_score, predictions, score_fold
from neuronbench.splits import TEST_FRACTION, VAL_FRACTION, stratified_pick, unit_hash

GROUP_FOLDS = 5
MIN_TEST_PER_CLASS = 10


def folds_for(meta: pd.DataFrame, label: str, split_by: str, seed: int = 0) -> list[tuple[list[str], list[str], list[str]]]:
    """(train, val, test) neuron ids per fold; see the module docstring."""
    ids = meta.index.to_series()
    if split_by == "neuron":
        groups = pd.DataFrame({"group": ids.to_numpy(), "label": meta[label].to_numpy()})
        test = stratified_pick(groups, TEST_FRACTION, f"{seed}/test")
        rest = groups[~groups["group"].isin(test)]
        val = stratified_pick(rest, VAL_FRACTION, f"{seed}/val/0")
        train = sorted(set(rest["group"]) - val)
        return [(train, sorted(val), sorted(test))]
    if split_by not in meta.columns:
        raise NeuronbenchError(f"--split-by {split_by!r}: no such column; choose 'neuron' or one of {list(meta.columns)}")
    group = meta[split_by].astype(str)
    ranked = sorted(group.unique(), key=lambda g: unit_hash(g, f"{seed}/groupfold"))
    if len(ranked) < 2:
        raise NeuronbenchError(f"--split-by {split_by!r}: expected 2+ groups to hold out in turn, got {ranked}")
    n_folds = min(GROUP_FOLDS, len(ranked))
    fold_of = {g: i % n_folds for i, g in enumerate(ranked)}
    folds = []
    for k in range(n_folds):
        in_test = group.map(fold_of).to_numpy() == k
        train_groups = sorted(set(group[~in_test]))
        val_groups = {g for g in train_groups if unit_hash(g, f"{seed}/groupval/{k}") < VAL_FRACTION}
        in_val = ~in_test & group.isin(val_groups).to_numpy()
        folds.append((sorted(ids[~in_test & ~in_val]), sorted(ids[in_val]), sorted(ids[in_test])))
    return folds


def small_test_sets(folds: Sequence[tuple[list[str], list[str], list[str]]], labels: pd.Series,
                    classes: Sequence[str]) -> list[str]:
    """One line per fold whose test set has fewer than `MIN_TEST_PER_CLASS` neurons of a
    class (or none of it)."""
    lines = []
    for k, (_, _, test) in enumerate(folds):
        counts = labels.loc[test].value_counts()
        small = {c: int(counts.get(c, 0)) for c in classes if counts.get(c, 0) < MIN_TEST_PER_CLASS}
        if small:
            lines.append(f"fold {k} tests {len(test)} neuron(s), fewer than {MIN_TEST_PER_CLASS} of class(es) "
                         f"{small}: its scores are noisy")
    return lines


def score_file(
    path: Path,
    label: str,
    *,
    split_by: str = "neuron",
    id_column: str = "neuron_id",
    prefix: str | None = None,
    probes: Sequence[str] = ("linear",),
    probe_seeds: Sequence[int] = (0, 1, 2),
    seed: int = 0,
) -> dict[str, Any]:
    """Score a user's embedding file; returns {probe: mean metrics over probe seeds}
    computed on the predictions pooled over folds, plus chance levels and sizes."""
    emb, meta = read_user_embeddings(path, id_column=id_column, prefix=prefix, exclude=(label, split_by))
    if label not in meta.columns:
        raise NeuronbenchError(f"{path}: no label column {label!r}; columns: {list(meta.columns)}")
    keep = meta[label].notna().to_numpy()
    emb, meta = emb[keep], meta[keep]
    classes = sorted(meta[label].astype(str).unique())
    if len(classes) < 2:
        raise NeuronbenchError(f"{path}: field {label!r}: expected 2+ classes, got {classes}")
    labels = meta[label].astype(str)
    folds = folds_for(meta, label, split_by, seed)
    for k, (train, _, _) in enumerate(folds):
        if labels.loc[train].nunique() < 2:
            raise NeuronbenchError(
                f"{path}: --split-by {split_by!r}: fold {k} trains on class(es) {sorted(labels.loc[train].unique())} "
                f"only; expected 2+ classes of {label!r} outside its test groups"
            )
    for line in small_test_sets(folds, labels, classes):
        print(f"neuronbench: warning: {path}: {line}", file=sys.stderr)
    scored = [score_fold(emb, labels, train, val, test, classes, probes, probe_seeds, make_probe)
              for train, val, test in folds]
    y_all = [y for fold in scored for y in fold["y_true"]["label"]]
    return {
        "n_neurons": int(len(emb)), "n_dims": int(emb.shape[1]), "classes": classes,
        "folds": len(folds), "split_by": split_by, "chance": chance_levels(y_all, classes),
        "probes": {name: pooled_score([predictions(fold, name) for fold in scored], classes) for name in probes},
    }
