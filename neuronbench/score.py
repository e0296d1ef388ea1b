"""Score precomputed embeddings that a user brings as a Parquet file.

The file holds a neuron id column, the embedding columns and the label (plus any
grouping column such as session or lab). Folds are made by hashing ids, like every
neuronbench split (`neuronbench.protocol.settings`):

- ``--split-by neuron``: one stratified split (20 % test, 20 % of the rest for
  validation), the transductive rule (`stratified_holdout`).
- ``--split-by COLUMN`` (e.g. ``eid`` for sessions, ``lab``): group k-fold
  (`group_kfold`): each fold holds out whole groups, every neuron is tested once, and
  the predictions of all folds are pooled before scoring.
- ``--split-by inductive-cross-lab --lab-column COLUMN``: the cross-lab setting's rule
  (`cross_lab_holdout`, the labs `held_out_labs` holds out of a dataset's split): one
  fold testing every neuron of a hashed third of the labs, the probe trained and
  validated on the other labs. With ``--animal-column``, an animal with neurons in two
  labs is refused, as `neuronbench.protocol.settings.make_split` refuses it.

Without ``--prefix`` the embedding is every numeric column except the label and the
grouping columns; a column of numbers stored as text (or of sequences of numbers), which
is not numeric but looks like an embedding stored so, is refused rather than left out
(convert it, or name the embedding columns with ``--prefix``). The columns used are
reported. A test set with fewer than `MIN_TEST_PER_CLASS` neurons of a class (or
none) in a fold is reported on stderr: its scores are too noisy to compare methods.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuronbench.embeddings import read_user_embeddings
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.constants import HEADLINE_PROBE, PROBE_SEEDS
from neuronbench.protocol.evaluator import Evaluator
from neuronbench.protocol.metrics import chance_levels
from neuronbench.protocol.scoring import predictions
from neuronbench.protocol.datasets import CROSS_LAB
from neuronbench.protocol.settings import cross_lab_holdout, group_kfold, lab_of_animals, stratified_holdout

MIN_TEST_PER_CLASS = 10


def folds_for(meta: pd.DataFrame, label: str, split_by: str, seed: int = 0, lab_column: str | None = None,
              animal_column: str | None = None) -> list[tuple[list[str], list[str], list[str]]]:
    """(train, val, test) neuron ids per fold; see the module docstring."""
    ids = meta.index.tolist()
    if split_by == "neuron":
        return stratified_holdout(ids, meta[label].tolist(), seed)
    if split_by == CROSS_LAB:
        return cross_lab_folds(meta, label, seed, lab_column, animal_column)
    if split_by not in meta.columns:
        raise NeuronbenchError(f"--split-by {split_by!r}: no such column; choose 'neuron' or one of {list(meta.columns)}")
    try:
        return group_kfold(ids, meta[split_by].astype(str).tolist(), seed)
    except NeuronbenchError as e:
        raise NeuronbenchError(f"--split-by {split_by!r}: {e}") from None


def cross_lab_folds(meta: pd.DataFrame, label: str, seed: int, lab_column: str | None,
                    animal_column: str | None) -> list[tuple[list[str], list[str], list[str]]]:
    """The one fold of ``--split-by inductive-cross-lab`` (`cross_lab_holdout`)."""
    where = f"--split-by {CROSS_LAB}"
    for option, column in (("--lab-column", lab_column), ("--animal-column", animal_column)):
        if column is not None and column not in meta.columns:
            raise NeuronbenchError(f"{where}: {option} {column!r}: no such column; the file's other columns: "
                                   f"{column_list(meta.columns)}")
    if lab_column is None:
        raise NeuronbenchError(f"{where}: name the column of each neuron's lab with --lab-column")
    if meta[lab_column].isna().any():
        raise NeuronbenchError(f"{where}: field {lab_column!r}: {int(meta[lab_column].isna().sum())} labelled "
                               "neuron(s) have no lab")
    labs = meta[lab_column].astype(str).tolist()
    if animal_column is not None:
        lab_of_animals(meta[animal_column].astype(str).tolist(), labs, f"field {animal_column!r}")
    try:
        return cross_lab_holdout(meta.index.tolist(), meta[label].astype(str).tolist(), labs, seed)
    except NeuronbenchError as e:
        raise NeuronbenchError(f"{where}: field {lab_column!r}: {e}") from None


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


def column_list(columns: Sequence[str], limit: int = 12) -> str:
    """Column names for a message: all of them, or the first ``limit`` and how many more."""
    names = [str(c) for c in columns]
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown + (f" ... and {len(names) - limit} more" if len(names) > limit else "")


def numbers_as_text(meta: pd.DataFrame, skip: Sequence[str]) -> dict[str, str]:
    """The non-numeric columns of ``meta`` (but ``skip``) whose values are all numbers
    written as text, or sequences of numbers: name -> dtype."""
    found = {}
    for name in meta.columns:
        column = meta[name].dropna()
        if name in skip or pd.api.types.is_numeric_dtype(meta[name]) or column.empty:
            continue
        if column.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).all():
            found[str(name)] = f"{meta[name].dtype} (sequences)"
        elif pd.to_numeric(column.astype(str), errors="coerce").notna().all():
            found[str(name)] = f"{meta[name].dtype} (numbers as text)"
    return found


def score_file(
    path: Path,
    label: str,
    *,
    split_by: str = "neuron",
    lab_column: str | None = None,
    animal_column: str | None = None,
    id_column: str = "neuron_id",
    prefix: str | None = None,
    probes: Sequence[str] = (HEADLINE_PROBE,),
    probe_seeds: Sequence[int] = PROBE_SEEDS,
    seed: int = 0,
) -> dict[str, Any]:
    """Score a user's embedding file; returns {probe: mean metrics over probe seeds}
    computed on the predictions pooled over folds, plus chance levels and sizes."""
    evaluator = Evaluator(tuple(probes), tuple(probe_seeds))
    if (lab_column or animal_column) and split_by != CROSS_LAB:
        raise NeuronbenchError(f"--lab-column and --animal-column go with --split-by {CROSS_LAB}, not {split_by!r}")
    grouping = tuple(c for c in (split_by, lab_column, animal_column) if c is not None)
    emb, meta = read_user_embeddings(path, id_column=id_column, prefix=prefix, exclude=(label, *grouping))
    if label not in meta.columns:
        raise NeuronbenchError(f"{path}: no label column {label!r}; the file's columns: "
                               f"{column_list([*meta.columns, *emb.columns])}")
    if prefix is None and (text := numbers_as_text(meta, (label, *grouping))):
        raise NeuronbenchError(
            f"{path}: column(s) {column_list([f'{n} [{d}]' for n, d in text.items()])} hold numbers but are not "
            f"numeric, so they would be left out of the embedding (which would be {column_list(emb.columns)}); "
            "store them as float columns, or choose the embedding columns with --prefix")
    keep = meta[label].notna().to_numpy()
    emb, meta = emb[keep], meta[keep]
    classes = sorted(meta[label].astype(str).unique())
    if len(classes) < 2:
        raise NeuronbenchError(f"{path}: field {label!r}: expected 2+ classes, got {classes}")
    labels = meta[label].astype(str)
    folds = folds_for(meta, label, split_by, seed, lab_column, animal_column)
    for k, (train, _, _) in enumerate(folds):
        if labels.loc[train].nunique() < 2:
            raise NeuronbenchError(
                f"{path}: --split-by {split_by!r}: fold {k} trains on class(es) {sorted(labels.loc[train].unique())} "
                f"only; expected 2+ classes of {label!r} outside its test groups"
            )
    for line in small_test_sets(folds, labels, classes):
        print(f"neuronbench: warning: {path}: {line}", file=sys.stderr)
    scored = [evaluator.score_fold(emb, labels, train, val, test, classes) for train, val, test in folds]
    y_all = [y for fold in scored for y in fold["y_true"]["label"]]
    return {
        "n_neurons": int(len(emb)), "n_dims": int(emb.shape[1]), "classes": classes,
        "embedding_columns": list(emb.columns),
        "folds": len(folds), "split_by": split_by, "chance": chance_levels(y_all, classes),
        "test_labs": sorted(set(meta.loc[folds[0][2], lab_column].astype(str))) if split_by == CROSS_LAB else None,
        "probes": {name: evaluator.pooled_score([predictions(fold, name) for fold in scored], classes)
                   for name in evaluator.probes},
    }
