"""The tasks: the registry of tasks, a task's main metric and its table of labelled neurons."""

import dataclasses

import pytest

from neuronbench.data.store import Dataset, write_dataset
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol import datasets
from neuronbench.protocol.datasets import all_tasks, get_task, tasks_for
from neuronbench.protocol.settings import make_split
from neuronbench.protocol.tasks import METRICS, task_table
from tests import dataset_example
from tests.conftest import small_recordings

TASK = dataset_example.HANDMADE.tasks[0]


@pytest.fixture(autouse=True)
def _register(monkeypatch):
    dataset_example.register(monkeypatch, dataset_example.HANDMADE)


def test_every_task_is_on_a_registered_dataset_and_declares_its_main_metric():
    tasks = all_tasks()
    assert tasks
    for key, task in tasks.items():
        assert key == task.key and task.dataset in datasets.all_datasets()
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


def test_a_task_unit_filter_keeps_only_the_neurons_it_passes(tmp_path):
    recs = small_recordings()
    for rec in recs:
        rec.labels["rate"] = [float(i) for i in range(len(rec.labels))]
    ds = Dataset(write_dataset(tmp_path / "handmade", "handmade", recs, label_columns=["cell_class", "rate"]))
    fast = dataclasses.replace(TASK, unit_filter=lambda labels, where: labels["rate"].to_numpy() > 5)
    table = task_table(ds, fast)
    rate = dict(zip(ds.labels["neuron_id"], ds.labels["rate"]))
    assert 0 < len(table) < len(task_table(ds, TASK)) and all(rate[n] > 5 for n in table["neuron_id"])


def test_the_bwb_unit_filter_reads_firing_rate_and_unit_qc_and_names_the_file_without_them(tmp_path):
    import pandas as pd

    from neuronbench.protocol import bwb

    labels = pd.DataFrame({"firing_rate": [0.5, 2.0, 3.0, None], "unit_qc": [1.0, 1.0, 0.66, 1.0]})
    assert bwb.unit_filter(labels, tmp_path / "labels.parquet").tolist() == [False, True, False, False]
    with pytest.raises(NeuronbenchError, match="labels.parquet: no column\\(s\\) \\['unit_qc'\\]"):
        bwb.unit_filter(labels[["firing_rate"]], tmp_path / "labels.parquet")
