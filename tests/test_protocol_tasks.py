"""The tasks: the registry of tasks, a task's main metric and its table of labelled neurons."""

import dataclasses

import pytest

from neuronbench.data import catalog
from neuronbench.data.store import Dataset, write_dataset
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.settings import make_split
from neuronbench.protocol.tasks import METRICS, TASKS, Task, get_task, task_table, tasks_for
from tests.conftest import small_recordings

TASK = Task("handmade", "cell_class", "cell_class", ("a", "b"), "test task")


@pytest.fixture(autouse=True)
def _register(monkeypatch):
    monkeypatch.setitem(catalog.DATASETS, "handmade", catalog.DatasetInfo("handmade", "hand-made", "tests", "spikes"))


def test_every_task_is_on_a_catalog_dataset_and_declares_its_main_metric():
    assert TASKS
    for key, task in TASKS.items():
        assert key == task.key and task.dataset in catalog.DATASETS
        assert task.main_metric == "macro_f1" and task.main_metric in METRICS
        assert len(task.classes) >= 2 and len(set(task.classes)) == len(task.classes)
    assert [t.name for t in tasks_for("synthetic-tiny")] == ["cell_class", "subclass", "region"]


def test_a_main_metric_outside_the_reported_metrics_is_refused():
    assert dataclasses.replace(TASK, main_metric="balanced_accuracy").main_metric == "balanced_accuracy"
    with pytest.raises(NeuronbenchError, match="handmade/cell_class: field 'main_metric': expected one of macro_f1"):
        dataclasses.replace(TASK, main_metric="auroc")


def test_unknown_task_or_dataset_lists_the_valid_ones():
    with pytest.raises(NeuronbenchError, match="unknown task 'nope' for dataset 'synthetic-tiny'; choose from: cell_class"):
        get_task("synthetic-tiny", "nope")
    with pytest.raises(NeuronbenchError, match="unknown dataset 'nope'"):
        tasks_for("nope")


def test_task_table_keeps_the_task_classes_and_groups_tracked_neurons(tmp_path):
    ds = Dataset(write_dataset(tmp_path / "handmade", "handmade", small_recordings(), label_columns=["cell_class"]))
    table = task_table(ds, TASK)
    assert list(table.columns) == ["neuron_id", "recording", "animal", "label", "group"] and len(table) == len(ds.neurons)
    tracked = table[table["group"] == "m0/n3"]  # n3 is in both recordings of m0
    assert sorted(tracked["recording"]) == ["m0-s0", "m0-s1"]
    only_a = task_table(ds, dataclasses.replace(TASK, classes=("a",)))
    assert set(only_a["label"]) == {"a"} and 0 < len(only_a) < len(table)
    with pytest.raises(NeuronbenchError, match="no label column 'region'"):
        task_table(ds, dataclasses.replace(TASK, label="region"))
    with pytest.raises(NeuronbenchError, match="no neuron has a label in"):
        task_table(ds, dataclasses.replace(TASK, classes=("z",)))


def test_inconsistent_labels_of_a_tracked_neuron_are_refused(tmp_path):
    recs = small_recordings()
    recs[1].labels.loc[0, "cell_class"] = "b" if recs[1].labels.loc[0, "cell_class"] == "a" else "a"
    ds = Dataset(write_dataset(tmp_path / "handmade", "handmade", recs, label_columns=["cell_class"]))
    with pytest.raises(NeuronbenchError, match="different labels"):
        make_split(ds, TASK, "transductive")
