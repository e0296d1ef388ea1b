"""The four settings, as data: which recordings pretrain, which neurons train, validate
and test the probe.

Definitions (NuCLR, Arora et al. 2025; docs/protocol.md):

- ``transductive``: pretraining sees every recording; the probe's train / val / test
  are disjoint neurons of the same animals (20 % test, stratified by label; of the rest,
  20 % validation).
- ``transductive-zero-shot``: pretraining sees every recording; leave-one-animal-out
  folds: the probe is tested on the held-out animal and trained on the others.
- ``inductive`` (zero-shot): the held-out animals are absent from pretraining and from
  probe training. Held-out animals are the dataset's published test animals, or else a
  hashed third of its animals (one fold, so one pretraining per seed).
- ``inductive-cross-lab``: the inductive setting with whole labs held out: a hashed third
  of the dataset's labs (at least one; `held_out_labs`), one fold; the probe is tested on
  every labelled neuron of their animals, which are absent from pretraining and from probe
  training; the probe trains on the other labs' animals. Each animal belongs to one lab
  (the label column the dataset's ``labs`` names); a dataset without labs does not
  support it (Tolossa et al. 2025, eLife 13:RP101506, ask whether region decoding
  transfers across labs).
- A dataset with ``eval_animals`` (NuCLR's Allen protocol: leave-one-session-out over the
  labelled sessions) is evaluated on those animals only, one fold per animal, the probe
  trained on the others; in the inductive setting all of them stay out of pretraining
  (one pretraining per seed, shared by the folds).
- A task with ``test_sessions`` (BrainWideBench TS3, its ``task_protocols``) is tested, in
  both zero-shot settings, on the neurons of those sessions (label column ``session``),
  one fold; the animals they belong to are held out of probe training (and, inductive,
  of pretraining), their other sessions unused.

The published facts of each dataset's protocol (held-out animals, development sessions,
evaluated animals) and the settings it supports are in its registered `DatasetInfo`
(`neuronbench.protocol.datasets`).

Assignments are made by hashing id strings with the split seed (torch_brain / brainsets
style), never by the order of a set: the same ids give the same split on any machine.
The unit of assignment is a *group*: a neuron tracked across recordings (same
``track_id``) is one group and lands on one side only. Validation neurons always come
from the probe-training side. A split is written as a JSON file with its checksum; any
change of this algorithm bumps `SPLIT_VERSION`, and results of different versions never
mix. `group_kfold`, `stratified_holdout` and `cross_lab_holdout` apply the same hashing
to bare ids (the folds of ``neuronbench score``).

This module stays light at import (no numpy/pandas): `SETTINGS` (defined with the
dataset registry) is read by the plug-in API and the command line when they list.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuronbench.atomic import atomic_write_text
from neuronbench.data.root import data_root
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.datasets import CROSS_LAB, INDUCTIVE_SETTINGS, SETTINGS, DatasetProtocol, get_dataset_info
from neuronbench.protocol.tasks import Task, task_table

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from neuronbench.data.store import Dataset

SPLIT_VERSION = 1
TEST_FRACTION = 0.2
VAL_FRACTION = 0.2
INDUCTIVE_TEST_FRACTION = 1 / 3
CROSS_LAB_TEST_FRACTION = 1 / 3
GROUP_FOLDS = 5
"""Folds of `group_kfold` (fewer when there are fewer groups)."""


def protocol_of(dataset: str, task: str | None = None) -> DatasetProtocol:
    """The published protocol of a registered dataset, or of one of its tasks when that
    task has its own; an unknown dataset name lists the valid ones."""
    return get_dataset_info(dataset).protocol(task)


def unit_hash(key: str, salt: str) -> float:
    """A uniform number in [0, 1) from a string: stable across runs and machines."""
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Fold:
    """One fold: ``pretrain`` are recording ids; ``train``/``val``/``test`` neuron ids;
    ``test_animals`` the held-out animals of zero-shot settings."""

    fold: int
    pretrain: tuple[str, ...]
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    test_animals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Split:
    """A task's split in one setting. ``seed`` is the split seed (``split_seed`` in the
    functions below); the field keeps its name because the field names are part of the
    checksum that the split files and result records carry."""

    dataset: str
    dataset_checksum: str
    task: str
    setting: str
    seed: int
    folds: tuple[Fold, ...]
    version: int = SPLIT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def checksum(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Split:
        folds = tuple(Fold(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in f.items()}) for f in d["folds"])
        return cls(**{**d, "folds": folds})


def stratified_pick(groups: pd.DataFrame, fraction: float, salt: str) -> set[str]:
    """Per label, the ``fraction`` of groups with the smallest hash."""
    picked: set[str] = set()
    for _, g in groups.groupby("label", sort=True):
        keys = sorted(g["group"], key=lambda k: unit_hash(k, salt))
        picked.update(keys[: int(round(fraction * len(keys)))])
    return picked



def stratified_holdout(ids: Sequence[str], labels: Sequence[Any],
                       split_seed: int = 0) -> list[tuple[list[str], list[str], list[str]]]:
    """The transductive rule on bare ids, each its own group: one fold (train, val, test)
    with a stratified `TEST_FRACTION` test side and `VAL_FRACTION` of the rest for
    validation, drawn with the salts of `make_split`."""
    import pandas as pd

    groups = pd.DataFrame({"group": list(ids), "label": list(labels)})
    test = stratified_pick(groups, TEST_FRACTION, f"{split_seed}/test")
    rest = groups[~groups["group"].isin(test)]
    val = stratified_pick(rest, VAL_FRACTION, f"{split_seed}/val/0")
    return [(sorted(set(rest["group"]) - val), sorted(val), sorted(test))]


def held_out_labs(labs: Sequence[str], split_seed: int = 0) -> tuple[str, ...]:
    """The labs held out by ``inductive-cross-lab``: a hashed `CROSS_LAB_TEST_FRACTION` of
    the distinct ``labs`` (at least one, never all), ranked by hash under the split seed
    alone, so that `make_split` and ``neuronbench score`` hold out the same labs of the
    same lab names. Fewer than 2 labs is refused."""
    distinct = sorted({str(lab) for lab in labs})
    if len(distinct) < 2:
        raise NeuronbenchError(f"a cross-lab split needs 2+ labs, got {len(distinct)} "
                               f"({', '.join(distinct) or 'none'})")
    ranked = sorted(distinct, key=lambda lab: unit_hash(lab, f"{split_seed}/cross-lab"))
    return tuple(sorted(ranked[: max(1, int(round(CROSS_LAB_TEST_FRACTION * len(distinct))))]))


def lab_of_animals(animals: Sequence[str], labs: Sequence[Any], where: str) -> dict[str, str]:
    """Each animal's lab from per-neuron (animal, lab) pairs; an animal with neurons in 2+
    labs, or with no lab, is refused (``where`` names the file and field)."""
    seen: dict[str, set[str]] = {}
    for animal, lab in zip(animals, labs):
        seen.setdefault(str(animal), set())
        if lab is not None and not (isinstance(lab, float) and math.isnan(lab)):
            seen[str(animal)].add(str(lab))
    for animal, found in sorted(seen.items()):
        if len(found) != 1:
            got = f"neurons in {len(found)} labs ({', '.join(sorted(found))})" if found else "no lab"
            raise NeuronbenchError(f"{where}: animal {animal!r} has {got}; a cross-lab split needs each animal "
                                   "in exactly one lab")
    return {animal: found.pop() for animal, found in seen.items()}


def cross_lab_holdout(ids: Sequence[str], labels: Sequence[Any], labs: Sequence[str],
                      split_seed: int = 0) -> list[tuple[list[str], list[str], list[str]]]:
    """The ``inductive-cross-lab`` rule on bare ids, each its own group: one fold (train,
    val, test) testing every id of the `held_out_labs`, validating on a stratified
    `VAL_FRACTION` of the others (the salt of `make_split`'s fold 0), training on the rest."""
    import pandas as pd

    if not len(ids) == len(labels) == len(labs):
        raise NeuronbenchError(f"cross_lab_holdout: {len(ids)} ids, {len(labels)} labels, {len(labs)} lab values")
    held = set(held_out_labs(labs, split_seed))
    groups = pd.DataFrame({"group": list(ids), "label": list(labels), "lab": [str(lab) for lab in labs]})
    test = groups["lab"].isin(held)
    rest = groups[~test]
    val = stratified_pick(rest, VAL_FRACTION, f"{split_seed}/val/0")
    return [(sorted(set(rest["group"]) - val), sorted(val), sorted(groups.loc[test, "group"]))]


def group_kfold(ids: Sequence[str], groups: Sequence[str],
                split_seed: int = 0) -> list[tuple[list[str], list[str], list[str]]]:
    """(train, val, test) ids per fold, holding out whole groups (sessions, labs): the
    groups are ranked by their hash and dealt in turn to `GROUP_FOLDS` folds (so that no
    fold is empty; with fewer groups, one fold per group); a fold's groups are never on
    its training side, and validation is a hashed `VAL_FRACTION` of the training groups.
    Every id is tested in exactly one fold."""
    if len(ids) != len(groups):
        raise NeuronbenchError(f"group_kfold: {len(ids)} ids but {len(groups)} group values")
    groups = [str(g) for g in groups]
    ranked = sorted(set(groups), key=lambda g: unit_hash(g, f"{split_seed}/groupfold"))
    if len(ranked) < 2:
        raise NeuronbenchError(f"expected 2+ groups to hold out in turn, got {ranked}")
    n_folds = min(GROUP_FOLDS, len(ranked))
    fold_of = {g: i % n_folds for i, g in enumerate(ranked)}
    folds = []
    for k in range(n_folds):
        val_groups = {g for g in ranked
                      if fold_of[g] != k and unit_hash(g, f"{split_seed}/groupval/{k}") < VAL_FRACTION}
        side = ["test" if fold_of[g] == k else "val" if g in val_groups else "train" for g in groups]
        folds.append(tuple(sorted(i for i, s in zip(ids, side) if s == name) for name in ("train", "val", "test")))
    return folds


def label_subset(table: pd.DataFrame, train: Sequence[str], fraction: float, split_seed: int = 0) -> tuple[str, ...]:
    """The probe-training neurons whose labels a label-efficiency point uses: per label,
    the ``fraction`` (rounded, at least one) of ``train``'s groups with the smallest hash
    under the split seed, all neurons of a picked group (a tracked neuron is one
    labelled cell). The ranking does not depend on ``fraction``, so the subsets of
    growing fractions are nested; ``fraction`` 1 gives ``train`` itself. ``table`` is
    the task's `task_table` (neuron_id, group, label)."""
    if isinstance(fraction, bool) or not 0 < fraction <= 1:
        raise NeuronbenchError(f"label fraction: expected a number in (0, 1], got {fraction!r}")
    rows = table[table["neuron_id"].isin(train)]
    picked: set[str] = set()
    for _, g in rows[["group", "label"]].drop_duplicates("group").groupby("label", sort=True):
        keys = sorted(g["group"], key=lambda k: unit_hash(k, f"{split_seed}/labels"))
        picked.update(keys[: max(1, int(round(fraction * len(keys))))])
    return tuple(sorted(rows.loc[rows["group"].isin(picked), "neuron_id"]))


def pretrain_animal_order(recordings: pd.DataFrame, pretrain: Sequence[str], split_seed: int = 0) -> list[str]:
    """The animals of the pretraining recordings ``pretrain`` ranked by their hash under
    the split seed: the pretraining-scale curve adds them in this order. ``recordings``
    is the dataset's recordings table (recording, animal)."""
    animal_of = dict(zip(recordings["recording"], recordings["animal"].astype(str)))
    return sorted({animal_of[r] for r in pretrain}, key=lambda a: unit_hash(a, f"{split_seed}/pretrain"))


def pretrain_subset(recordings: pd.DataFrame, pretrain: Sequence[str], n_animals: int,
                    split_seed: int = 0) -> tuple[str, ...]:
    """The recordings of a pretraining-scale point: those of ``pretrain`` made in the
    first ``n_animals`` animals of `pretrain_animal_order` (so the sets of growing counts
    are nested)."""
    ranked = pretrain_animal_order(recordings, pretrain, split_seed)
    if isinstance(n_animals, bool) or not 1 <= n_animals <= len(ranked):
        raise NeuronbenchError(f"pretraining animals: expected 1 to {len(ranked)} (the animals of this "
                               f"setting's pretraining recordings), got {n_animals!r}")
    keep = set(ranked[:n_animals])
    animal_of = dict(zip(recordings["recording"], recordings["animal"].astype(str)))
    return tuple(r for r in pretrain if animal_of[r] in keep)


def _fold(table: pd.DataFrame, fold: int, pretrain: list[str], test_mask: np.ndarray,
          trainable: np.ndarray, split_seed: int, test_animals: tuple[str, ...] = ()) -> Fold:
    groups = table.loc[trainable, ["group", "label"]].drop_duplicates("group")
    val_groups = stratified_pick(groups, VAL_FRACTION, f"{split_seed}/val/{fold}")
    val_mask = trainable & table["group"].isin(val_groups).to_numpy()
    train_mask = trainable & ~val_mask

    def ids(mask: np.ndarray) -> tuple[str, ...]:
        return tuple(sorted(table.loc[mask, "neuron_id"]))

    return Fold(fold, tuple(sorted(pretrain)), ids(train_mask), ids(val_mask), ids(test_mask), test_animals)


def _session_fold(dataset: Dataset, task: Task, table: pd.DataFrame, sessions: tuple[str, ...], setting: str,
                  not_dev: np.ndarray, split_seed: int) -> Fold:
    """The one fold of a zero-shot setting with published held-out sessions: test on their
    neurons; their animals train neither the probe nor (inductive) the encoder."""
    labels = dataset.labels
    if "session" not in labels.columns:
        raise NeuronbenchError(f"{dataset.path / 'labels.parquet'}: no column 'session' (each neuron's session id), "
                               f"needed for the held-out sessions of task {task.key}")
    session_of = dict(zip(labels["neuron_id"], labels["session"]))
    in_test = table["neuron_id"].map(session_of).isin(sessions).to_numpy()
    if not in_test.any():
        raise NeuronbenchError(
            f"{dataset.path / 'labels.parquet'}: field 'session': no labelled neuron of task {task.key} is in one "
            f"of its {len(sessions)} held-out sessions (e.g. {sessions[0]})"
        )
    held = tuple(sorted(table.loc[in_test, "animal"].unique()))
    in_held = table["animal"].isin(held).to_numpy()
    recs = dataset.recordings
    pretrain = recs["recording"] if setting == "transductive-zero-shot" else \
        recs.loc[~recs["animal"].astype(str).isin(held), "recording"]
    return _fold(table, 0, pretrain.tolist(), in_test & not_dev, ~in_held, split_seed, held)


def held_out_animals(animals: list[str], dataset: str, split_seed: int = 0) -> tuple[str, ...]:
    """The inductive test animals: published ones, else a hashed third (at least one)."""
    protocol = protocol_of(dataset)
    if protocol.test_animals is not None:
        return tuple(sorted(protocol.test_animals))
    ranked = sorted(animals, key=lambda a: unit_hash(a, f"{split_seed}/inductive/{dataset}"))
    return tuple(sorted(ranked[: max(1, int(round(INDUCTIVE_TEST_FRACTION * len(animals))))]))


def check_supported(dataset: str, setting: str) -> None:
    """Refuse an unknown setting, or one the registered dataset does not support (with
    the dataset's reason)."""
    if setting not in SETTINGS:
        raise NeuronbenchError(f"unknown setting {setting!r}; choose from: {', '.join(SETTINGS)}")
    info = get_dataset_info(dataset)
    if setting in info.na_reasons:
        raise NeuronbenchError(f"dataset {dataset!r} does not support the {setting} setting: "
                               f"{info.na_reasons[setting]} (it supports: {', '.join(info.settings)})")


def animal_labs(dataset: Dataset, labs: str) -> dict[str, str]:
    """Each animal of the dataset's recordings -> its lab, read from the label column
    ``labs`` (`lab_of_animals`: one lab per animal, else refused)."""
    where = f"{dataset.path / 'labels.parquet'}: field {labs!r}"
    if labs not in dataset.labels.columns:
        raise NeuronbenchError(f"{where}: no such column (each neuron's lab, named by the dataset's 'labs')")
    lab_of = lab_of_animals(dataset.neurons["animal"].astype(str).tolist(), dataset.labels[labs].tolist(), where)
    missing = sorted(set(dataset.recordings["animal"].astype(str)) - set(lab_of))
    if missing:
        raise NeuronbenchError(f"{where}: animal {missing[0]!r} has no neuron, so no lab")
    return lab_of


def held_out_lab_animals(dataset: Dataset, labs: str, split_seed: int = 0) -> tuple[str, ...]:
    """The ``inductive-cross-lab`` test animals: every animal of the `held_out_labs`."""
    lab_of = animal_labs(dataset, labs)
    try:
        held = set(held_out_labs(list(lab_of.values()), split_seed))
    except NeuronbenchError as e:
        raise NeuronbenchError(f"{dataset.path / 'labels.parquet'}: field {labs!r}: {e}") from None
    return tuple(sorted(a for a, lab in lab_of.items() if lab in held))


def make_split(dataset: Dataset, task: Task, setting: str, split_seed: int = 0) -> Split:
    """Build the split of a task in a setting from the dataset's ids alone."""
    check_supported(dataset.name, setting)
    info = get_dataset_info(dataset.name)
    protocol = info.protocol(task.name)
    table = task_table(dataset, task)
    if protocol.eval_animals is not None:  # a published protocol evaluates on these animals only
        table = _evaluated(dataset, task, table, protocol.eval_animals, setting)
    recs = dataset.recordings
    all_recordings = recs["recording"].tolist()
    not_dev = ~table["recording"].isin(protocol.dev_recordings).to_numpy()
    animals = sorted(table["animal"].unique())
    folds: list[Fold] = []

    if setting == CROSS_LAB:  # its own rule on every task, published held-out sessions or not
        held = held_out_lab_animals(dataset, info.labs, split_seed)
        in_held = table["animal"].isin(held).to_numpy()
        pretrain = recs.loc[~recs["animal"].astype(str).isin(held), "recording"].tolist()
        folds.append(_fold(table, 0, pretrain, in_held & not_dev, ~in_held, split_seed, held))
    elif setting == "transductive":
        candidates = table.loc[not_dev, ["group", "label"]].drop_duplicates("group")
        # a tracked group that also appears in a development recording is never tested
        candidates = candidates[~candidates["group"].isin(table.loc[~not_dev, "group"])]
        test_groups = stratified_pick(candidates, TEST_FRACTION, f"{split_seed}/test")
        test_mask = table["group"].isin(test_groups).to_numpy()
        folds.append(_fold(table, 0, all_recordings, test_mask, ~test_mask, split_seed))
    elif protocol.test_sessions is not None:  # zero-shot on published held-out sessions
        folds.append(_session_fold(dataset, task, table, protocol.test_sessions, setting, not_dev, split_seed))
    elif setting == "transductive-zero-shot":
        if len(animals) < 2:
            raise NeuronbenchError(f"task {task.key}, {setting}: leave-one-animal-out needs 2+ animals with a "
                                   f"labelled neuron, found {animals}")
        for k, animal in enumerate(animals):
            in_animal = (table["animal"] == animal).to_numpy()
            folds.append(_fold(table, k, all_recordings, in_animal & not_dev, ~in_animal, split_seed, (animal,)))
    elif protocol.eval_animals is not None:  # inductive, leave-one-out over the evaluated animals
        rec_animal = recs["animal"].astype(str)
        pretrain = recs.loc[~rec_animal.isin(protocol.eval_animals), "recording"].tolist()
        if not pretrain:
            raise NeuronbenchError(
                f"task {task.key}, inductive: every prepared recording is of an evaluated animal; the "
                "inductive setting pretrains on recordings outside them, and there is none"
            )
        for k, animal in enumerate(animals):
            in_animal = (table["animal"] == animal).to_numpy()
            folds.append(_fold(table, k, pretrain, in_animal & not_dev, ~in_animal, split_seed, (animal,)))
    else:  # inductive
        all_animals = sorted(recs["animal"].astype(str).unique())
        held = held_out_animals(all_animals, dataset.name, split_seed)
        if len(held) >= len(all_animals):
            raise NeuronbenchError(f"task {task.key}: the inductive setting needs animals left to pretrain on")
        in_held = table["animal"].isin(held).to_numpy()
        pretrain = recs.loc[~recs["animal"].astype(str).isin(held), "recording"].tolist()
        folds.append(_fold(table, 0, pretrain, in_held & not_dev, ~in_held, split_seed, held))

    split = Split(dataset.name, dataset.checksum, task.name, setting, split_seed, tuple(folds))
    check_split(split, dataset)
    _check_probe_classes(split, task, table)
    return split


def _evaluated(dataset: Dataset, task: Task, table: pd.DataFrame, evaluated: tuple[str, ...],
               setting: str) -> pd.DataFrame:
    """The task's neurons of the published evaluated animals; fewer than two of them
    prepared is refused, saying that the protocol keeps only those animals and which."""
    kept = table[table["animal"].isin(evaluated)].reset_index(drop=True)
    found = sorted(kept["animal"].unique())
    needed = 1 if setting == "transductive" else 2  # the zero-shot settings leave one out at a time
    if len(found) < needed:
        prepared = sorted(dataset.recordings["animal"].astype(str).unique())
        raise NeuronbenchError(
            f"task {task.key}, {setting}: the published protocol of {dataset.name!r} evaluates only its "
            f"{len(evaluated)} listed animals ({', '.join(evaluated)}), so this setting needs {needed}+ "
            f"of them with a labelled neuron; of the {len(prepared)} animal(s) prepared in {dataset.path} "
            f"({', '.join(prepared)}), {len(found)} qualify ({', '.join(found) or 'none'})"
        )
    return kept


def _check_probe_classes(split: Split, task: Task, table: pd.DataFrame) -> None:
    """Refuse up front a fold whose probe could not be fitted: fewer than 2 classes on
    its training side, or a validation side sharing no class with it."""
    label_of = dict(zip(table["neuron_id"], table["label"]))
    for f in split.folds:
        train = dict(sorted(Counter(label_of[n] for n in f.train).items()))
        val = {label_of[n] for n in f.val}
        if len(train) >= 2 and (not val or val & set(train)):
            continue
        held = f" (held-out {', '.join(f.test_animals)})" if f.test_animals else ""
        counts = ", ".join(f"{c} {n}" for c, n in train.items())
        problem = ("a probe needs 2+ classes" if len(train) < 2 else
                   f"its validation side holds only {sorted(val)}, none of which the probe trains on")
        raise NeuronbenchError(
            f"task {task.key}, {split.setting}, fold {f.fold}{held}: the probe-training side holds "
            f"{len(train)} class(es) ({counts or 'no neuron'}): {problem}"
        )


def check_split(split: Split, dataset: Dataset) -> None:
    """The guarantees every split must keep; raise if one is broken."""
    from neuronbench.data.recording import group_keys

    n = dataset.neurons
    group_of = dict(zip(n["neuron_id"], group_keys(n["animal"], n["track_id"], n["neuron_id"])))
    animal_of = dict(zip(dataset.neurons["neuron_id"], dataset.neurons["animal"].astype(str)))
    rec_animal = dict(zip(dataset.recordings["recording"], dataset.recordings["animal"].astype(str)))
    for f in split.folds:
        sides = [{group_of[n] for n in ids} for ids in (f.train, f.val, f.test)]
        if sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2]:
            raise NeuronbenchError(f"split {split.task}/{split.setting} fold {f.fold}: a neuron is on two sides")
        empty = [side for side, ids in (("probe-training", f.train), ("test", f.test)) if not ids]
        if empty:
            held = f"held-out animal(s) {', '.join(f.test_animals)}" if f.test_animals else "no held-out animal"
            raise NeuronbenchError(
                f"split {split.dataset}/{split.task}/{split.setting} fold {f.fold} ({held}): empty {empty[0]} side: "
                + ("no labelled neuron of the task is in the held-out animal(s) (outside development recordings)"
                   if empty[0] == "test" else "every labelled neuron of the task is held out")
            )
        if split.setting != "transductive":
            train_animals = {animal_of[n] for n in f.train + f.val}
            if train_animals & set(f.test_animals):
                raise NeuronbenchError(f"split {split.task}/{split.setting} fold {f.fold}: a test animal trains the probe")
        if split.setting in INDUCTIVE_SETTINGS and {rec_animal[r] for r in f.pretrain} & set(f.test_animals):
            raise NeuronbenchError(f"split {split.task}/{split.setting}: a held-out animal is in pretraining")
        if split.setting == CROSS_LAB:
            _check_cross_lab(split, f, dataset, animal_of, rec_animal)


def _check_cross_lab(split: Split, f: Fold, dataset: Dataset, animal_of: dict[str, str],
                     rec_animal: dict[str, str]) -> None:
    """No animal of a held-out lab (a lab of a test animal) pretrains or trains the probe,
    and every test neuron is of a held-out lab: re-read from the labels, not trusted from
    the fold."""
    lab_of = animal_labs(dataset, get_dataset_info(split.dataset).labs or "")
    held = {lab_of[a] for a in f.test_animals}
    tested = {lab_of[animal_of[n]] for n in f.test}
    trained = {lab_of[animal_of[n]] for n in f.train + f.val} | {lab_of[rec_animal[r]] for r in f.pretrain}
    if not tested <= held or held & trained:
        raise NeuronbenchError(f"split {split.task}/{split.setting} fold {f.fold}: an animal of a held-out lab "
                               f"({', '.join(sorted(held))}) pretrains or trains the probe, or a test neuron is of "
                               "another lab")


def split_path(dataset: str, task: str, setting: str, split_seed: int = 0, root: Path | None = None) -> Path:
    root = Path(root) if root is not None else data_root()
    return root / "splits" / dataset / task / f"{setting}-v{SPLIT_VERSION}-seed{split_seed}.json"


def write_split(split: Split, path: Path) -> None:
    atomic_write_text(path, json.dumps({"checksum": split.checksum, "split": split.to_dict()}, indent=1, sort_keys=True))


def read_split(path: Path) -> Split:
    """Read a split file and verify its checksum."""
    try:
        doc = json.loads(Path(path).read_text())
        split = Split.from_dict(doc["split"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise NeuronbenchError(f"{path}: not a valid split file ({e})") from None
    if split.checksum != doc.get("checksum"):
        raise NeuronbenchError(f"{path}: field 'checksum' does not match the split's content: the file is corrupt")
    if split.version != SPLIT_VERSION:
        raise NeuronbenchError(f"{path}: field 'version': expected {SPLIT_VERSION}, got {split.version}")
    return split


def get_split(dataset: Dataset, task: Task, setting: str, split_seed: int = 0, root: Path | None = None) -> Split:
    """The split of a task in a setting: read from its file when it is there and made
    from this very dataset, else made and written."""
    path = split_path(dataset.name, task.name, setting, split_seed, root)
    if path.is_file():
        split = read_split(path)
        if split.dataset_checksum == dataset.checksum:
            return split
    split = make_split(dataset, task, setting, split_seed)
    write_split(split, path)
    return split
