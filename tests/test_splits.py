import json

import pandas as pd
import pytest

from neuronbench.data.store import Dataset, write_dataset
from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import SETTINGS
from neuronbench.splits import get_split, make_split, read_split, split_path, unit_hash
from neuronbench.tasks import Task
from tests.conftest import small_recordings

TASK = Task("handmade", "cell_class", "cell_class", ("a", "b"), "test task")


@pytest.fixture()
def ds(tmp_path):
    return Dataset(write_dataset(tmp_path / "handmade", "handmade", small_recordings(), label_columns=["cell_class"]))


@pytest.fixture(autouse=True)
def _register(monkeypatch):
    from neuronbench.data import catalog
    info = catalog.DatasetInfo("handmade", "hand-made", "tests", "spikes")
    monkeypatch.setitem(catalog.DATASETS, "handmade", info)


def _groups(ds):
    n = ds.neurons
    return {i: (f"{a}/{t}" if pd.notna(t) else i) for i, a, t in zip(n["neuron_id"], n["animal"], n["track_id"])}


@pytest.mark.parametrize("setting", SETTINGS)
def test_no_neuron_on_two_sides(ds, setting):
    group = _groups(ds)
    split = make_split(ds, TASK, setting)
    for f in split.folds:
        sides = [{group[i] for i in ids} for ids in (f.train, f.val, f.test)]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
        assert f.train and f.test


def test_inductive_held_out_animals_absent_from_pretraining_and_probe_training(ds):
    split = make_split(ds, TASK, "inductive")
    (fold,) = split.folds
    animal = dict(zip(ds.neurons["neuron_id"], ds.neurons["animal"]))
    rec_animal = dict(zip(ds.recordings["recording"], ds.recordings["animal"]))
    assert len(fold.test_animals) == 1  # a hashed third of 3 animals
    assert not {rec_animal[r] for r in fold.pretrain} & set(fold.test_animals)
    assert not {animal[i] for i in fold.train + fold.val} & set(fold.test_animals)
    assert {animal[i] for i in fold.test} == set(fold.test_animals)


def test_transductive_zero_shot_is_leave_one_animal_out(ds):
    split = make_split(ds, TASK, "transductive-zero-shot")
    animal = dict(zip(ds.neurons["neuron_id"], ds.neurons["animal"]))
    assert [f.test_animals for f in split.folds] == [("m0",), ("m1",), ("m2",)]
    for f in split.folds:
        assert {animal[i] for i in f.test} == set(f.test_animals)
        assert len(f.pretrain) == 6  # every recording, test animals included


def test_transductive_is_stratified_and_tracked_neurons_stay_together(ds):
    split = make_split(ds, TASK, "transductive")
    (f,) = split.folds
    labels = dict(zip(ds.labels["neuron_id"], ds.labels["cell_class"]))
    for cls in ("a", "b"):
        assert any(labels[i] == cls for i in f.test)
    group = _groups(ds)
    test_groups = {group[i] for i in f.test}
    # every recording of a tracked test neuron is on the test side
    assert all(i in f.test for i, g in group.items() if g in test_groups)


def test_split_is_deterministic_and_depends_on_the_seed_only_through_hashing(ds):
    assert make_split(ds, TASK, "transductive").checksum == make_split(ds, TASK, "transductive").checksum
    assert make_split(ds, TASK, "transductive", seed=1).checksum != make_split(ds, TASK, "transductive").checksum
    assert unit_hash("x", "0") == unit_hash("x", "0") != unit_hash("x", "1")


def test_split_file_is_written_with_a_checksum_and_verified(ds, tmp_path):
    split = get_split(ds, TASK, "transductive", root=tmp_path)
    path = split_path("handmade", "cell_class", "transductive", root=tmp_path)
    assert read_split(path) == split
    doc = json.loads(path.read_text())
    doc["split"]["folds"][0]["test"] = doc["split"]["folds"][0]["test"][1:]
    path.write_text(json.dumps(doc))
    with pytest.raises(NeuronbenchError, match="checksum"):
        read_split(path)


def test_inconsistent_labels_of_a_tracked_neuron_are_refused(tmp_path):
    recs = small_recordings()
    recs[1].labels.loc[0, "cell_class"] = "b" if recs[1].labels.loc[0, "cell_class"] == "a" else "a"
    ds = Dataset(write_dataset(tmp_path / "handmade", "handmade", recs, label_columns=["cell_class"]))
    with pytest.raises(NeuronbenchError, match="different labels"):
        make_split(ds, TASK, "transductive")
