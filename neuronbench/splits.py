"""The three settings, as data: which recordings pretrain, which neurons train, validate
and test the probe.

Definitions (NuCLR, Arora et al. 2025; `../shared/reference/evaluation.md`):

- ``transductive``: pretraining sees every recording; the probe's train / val / test
  are disjoint neurons of the same animals (20 % test, stratified by label; of the rest,
  20 % validation).
- ``transductive-zero-shot``: pretraining sees every recording; leave-one-animal-out
  folds: the probe is tested on the held-out animal and trained on the others.
- ``inductive`` (zero-shot): the held-out animals are absent from pretraining and from
  probe training. Held-out animals are the dataset's published test animals, or else a
  hashed third of its animals (one fold, so one pretraining per seed).
- A dataset with ``eval_animals`` (NuCLR's Allen protocol: leave-one-session-out over the
  labelled sessions) is evaluated on those animals only, one fold per animal, the probe
  trained on the others; in the inductive setting all of them stay out of pretraining
  (one pretraining per seed, shared by the folds).

Assignments are made by hashing id strings with a seed (torch_brain / brainsets style),
never by the order of a set: the same ids give the same split on any machine. The unit
of assignment is a *group*: a neuron tracked across recordings (same ``track_id``)
is one group and lands on one side only. Validation neurons always come from the
probe-training side. A split is written as a JSON file with its checksum; any change of
this algorithm bumps `SPLIT_VERSION`, and results of different versions never mix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuronbench.data.catalog import get_dataset_info
from neuronbench.data.recording import group_keys
from neuronbench.data.store import Dataset, data_root
from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import SETTINGS
from neuronbench.atomic import atomic_write_text
from neuronbench.tasks import Task

SPLIT_VERSION = 1
TEST_FRACTION = 0.2
VAL_FRACTION = 0.2
INDUCTIVE_TEST_FRACTION = 1 / 3


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


def task_table(dataset: Dataset, task: Task) -> pd.DataFrame:
    """The task's neurons: neuron_id, recording, animal, group, label. Neurons without a
    label in ``task.classes`` are left out."""
    if task.label not in dataset.labels.columns:
        raise NeuronbenchError(
            f"{dataset.path / 'labels.parquet'}: no label column {task.label!r} for task {task.key}"
        )
    neurons = dataset.neurons
    table = pd.DataFrame(
        {
            "neuron_id": neurons["neuron_id"].to_numpy(),
            "recording": neurons["recording"].to_numpy(),
            "animal": neurons["animal"].astype(str).to_numpy(),
            "label": dataset.labels[task.label].to_numpy(dtype=object),
        }
    )
    table["group"] = group_keys(table["animal"], neurons["track_id"], table["neuron_id"])
    table = table[table["label"].isin(task.classes)].reset_index(drop=True)
    if table.empty:
        raise NeuronbenchError(f"{dataset.path}: no neuron has a label in {task.classes} for task {task.key}")
    mixed = table.groupby("group")["label"].nunique()
    if (mixed > 1).any():
        raise NeuronbenchError(
            f"{dataset.path / 'labels.parquet'}: field {task.label!r}: tracked neuron(s) with different "
            f"labels across recordings, e.g. {mixed[mixed > 1].index[:3].tolist()}"
        )
    return table


def stratified_pick(groups: pd.DataFrame, fraction: float, salt: str) -> set[str]:
    """Per label, the ``fraction`` of groups with the smallest hash."""
    picked: set[str] = set()
    for _, g in groups.groupby("label", sort=True):
        keys = sorted(g["group"], key=lambda k: unit_hash(k, salt))
        picked.update(keys[: int(round(fraction * len(keys)))])
    return picked


def _fold(table: pd.DataFrame, fold: int, pretrain: list[str], test_mask: np.ndarray,
          trainable: np.ndarray, seed: int, test_animals: tuple[str, ...] = ()) -> Fold:
    groups = table.loc[trainable, ["group", "label"]].drop_duplicates("group")
    val_groups = stratified_pick(groups, VAL_FRACTION, f"{seed}/val/{fold}")
    val_mask = trainable & table["group"].isin(val_groups).to_numpy()
    train_mask = trainable & ~val_mask

    def ids(mask: np.ndarray) -> tuple[str, ...]:
        return tuple(sorted(table.loc[mask, "neuron_id"]))

    return Fold(fold, tuple(sorted(pretrain)), ids(train_mask), ids(val_mask), ids(test_mask), test_animals)


def held_out_animals(animals: list[str], dataset: str, seed: int = 0) -> tuple[str, ...]:
    """The inductive test animals: published ones, else a hashed third (at least one)."""
    info = get_dataset_info(dataset)
    if info.test_animals is not None:
        return tuple(sorted(info.test_animals))
    ranked = sorted(animals, key=lambda a: unit_hash(a, f"{seed}/inductive/{dataset}"))
    return tuple(sorted(ranked[: max(1, int(round(INDUCTIVE_TEST_FRACTION * len(animals))))]))


def make_split(dataset: Dataset, task: Task, setting: str, seed: int = 0) -> Split:
    """Build the split of a task in a setting from the dataset's ids alone."""
    if setting not in SETTINGS:
        raise NeuronbenchError(f"unknown setting {setting!r}; choose from: {', '.join(SETTINGS)}")
    info = get_dataset_info(dataset.name)
    table = task_table(dataset, task)
    if info.eval_animals is not None:  # a published protocol evaluates on these animals only
        table = table[table["animal"].isin(info.eval_animals)].reset_index(drop=True)
        if table.empty:
            raise NeuronbenchError(f"{dataset.path}: no labelled neuron of task {task.key} in the evaluated "
                                   f"animals {list(info.eval_animals)[:5]}...")
    recs = dataset.recordings
    all_recordings = recs["recording"].tolist()
    not_dev = ~table["recording"].isin(info.dev_recordings).to_numpy()
    animals = sorted(table["animal"].unique())
    folds: list[Fold] = []

    if setting == "transductive":
        candidates = table.loc[not_dev, ["group", "label"]].drop_duplicates("group")
        # a tracked group that also appears in a development recording is never tested
        candidates = candidates[~candidates["group"].isin(table.loc[~not_dev, "group"])]
        test_groups = stratified_pick(candidates, TEST_FRACTION, f"{seed}/test")
        test_mask = table["group"].isin(test_groups).to_numpy()
        folds.append(_fold(table, 0, all_recordings, test_mask, ~test_mask, seed))
    elif setting == "transductive-zero-shot":
        if len(animals) < 2:
            raise NeuronbenchError(f"task {task.key}: leave-one-animal-out needs 2+ animals, found {animals}")
        for k, animal in enumerate(animals):
            in_animal = (table["animal"] == animal).to_numpy()
            folds.append(_fold(table, k, all_recordings, in_animal & not_dev, ~in_animal, seed, (animal,)))
    elif info.eval_animals is not None:  # inductive, leave-one-out over the evaluated animals
        if len(animals) < 2:
            raise NeuronbenchError(f"task {task.key}: leave-one-animal-out needs 2+ animals, found {animals}")
        rec_animal = recs["animal"].astype(str)
        pretrain = recs.loc[~rec_animal.isin(info.eval_animals), "recording"].tolist()
        if not pretrain:
            raise NeuronbenchError(
                f"task {task.key}: the inductive setting needs recordings outside the evaluated animals"
            )
        for k, animal in enumerate(animals):
            in_animal = (table["animal"] == animal).to_numpy()
            folds.append(_fold(table, k, pretrain, in_animal & not_dev, ~in_animal, seed, (animal,)))
    else:  # inductive
        all_animals = sorted(recs["animal"].astype(str).unique())
        held = held_out_animals(all_animals, dataset.name, seed)
        if len(held) >= len(all_animals):
            raise NeuronbenchError(f"task {task.key}: the inductive setting needs animals left to pretrain on")
        in_held = table["animal"].isin(held).to_numpy()
        pretrain = recs.loc[~recs["animal"].astype(str).isin(held), "recording"].tolist()
        folds.append(_fold(table, 0, pretrain, in_held & not_dev, ~in_held, seed, held))

    split = Split(dataset.name, dataset.checksum, task.name, setting, seed, tuple(folds))
    check_split(split, dataset)
    return split


def check_split(split: Split, dataset: Dataset) -> None:
    """The guarantees every split must keep; raise if one is broken."""
    n = dataset.neurons
    group_of = dict(zip(n["neuron_id"], group_keys(n["animal"], n["track_id"], n["neuron_id"])))
    animal_of = dict(zip(dataset.neurons["neuron_id"], dataset.neurons["animal"].astype(str)))
    rec_animal = dict(zip(dataset.recordings["recording"], dataset.recordings["animal"].astype(str)))
    for f in split.folds:
        sides = [{group_of[n] for n in ids} for ids in (f.train, f.val, f.test)]
        if sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2]:
            raise NeuronbenchError(f"split {split.task}/{split.setting} fold {f.fold}: a neuron is on two sides")
        if not f.train or not f.test:
            raise NeuronbenchError(f"split {split.task}/{split.setting} fold {f.fold}: empty train or test side")
        if split.setting != "transductive":
            train_animals = {animal_of[n] for n in f.train + f.val}
            if train_animals & set(f.test_animals):
                raise NeuronbenchError(f"split {split.task}/{split.setting} fold {f.fold}: a test animal trains the probe")
        if split.setting == "inductive" and {rec_animal[r] for r in f.pretrain} & set(f.test_animals):
            raise NeuronbenchError(f"split {split.task}/inductive: a held-out animal is in pretraining")


def split_path(dataset: str, task: str, setting: str, seed: int = 0, root: Path | None = None) -> Path:
    root = Path(root) if root is not None else data_root()
    return root / "splits" / dataset / task / f"{setting}-v{SPLIT_VERSION}-seed{seed}.json"


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


def get_split(dataset: Dataset, task: Task, setting: str, seed: int = 0, root: Path | None = None) -> Split:
    """The split of a task in a setting: read from its file when it is there and made
    from this very dataset, else made and written."""
    path = split_path(dataset.name, task.name, setting, seed, root)
    if path.is_file():
        split = read_split(path)
        if split.dataset_checksum == dataset.checksum:
            return split
    split = make_split(dataset, task, setting, seed)
    write_split(split, path)
    return split
