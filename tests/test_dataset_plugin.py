"""Datasets registered like methods: a toy dataset of another package registers through the
``neuronbench.datasets`` entry point group, passes `check_dataset` and runs end to end."""

import dataclasses
import subprocess
import sys

import pytest

from neuronbench.cli import main
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol import datasets
from neuronbench.protocol.datasets import DatasetInfo, get_dataset_info, load_dataset
from neuronbench.protocol.record import iter_records
from neuronbench.protocol.tasks import Task
from neuronbench.testing import check_dataset
from tests import dataset_example


@pytest.fixture()
def toy(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURONBENCH_DATA", str(tmp_path / "data"))
    dataset_example.register(monkeypatch, "tests.dataset_example:INFO")  # as an installed package names it
    return get_dataset_info("toy")


def test_a_dataset_of_another_package_registers_and_passes_check_dataset(toy, tmp_path):
    assert toy is dataset_example.INFO and "toy" in datasets.all_datasets()
    check_dataset(toy, root=tmp_path / "data")
    assert load_dataset("toy").name == "toy"


def test_the_toy_dataset_runs_in_neuronbench_run_and_refuses_its_unsupported_setting(toy, tmp_path, capsys):
    results = tmp_path / "results"
    argv = ["run", "--method", "features", "--dataset", "toy", "--seeds", "0,", "--results", str(results),
            "--no-progress"]
    assert main([*argv, "--setting", "transductive,transductive-zero-shot"]) == 0
    records = [r for _, r in iter_records(results)]
    assert {(r.setting, r.status) for r in records} == {("transductive", "ok"), ("transductive-zero-shot", "ok")}
    assert all(r.task.name == "kind" for r in records)
    capsys.readouterr()
    assert main([*argv, "--setting", "inductive"]) == 2
    assert ("dataset 'toy' does not support the inductive setting: three animals are too few to hold some out "
            "of pretraining (a toy)") in capsys.readouterr().err


def test_check_dataset_names_each_check_a_broken_dataset_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURONBENCH_DATA", str(tmp_path / "data"))
    broken = dataclasses.replace(
        dataset_example.INFO, modality="calcium", available=("waveforms",), labs="lab",
        tasks=(Task("toy", "kind", "kind", ("fast", "medium"), "one class of two present"),))
    dataset_example.register(monkeypatch, broken)
    with pytest.raises(AssertionError) as e:
        check_dataset(broken, root=tmp_path / "data")
    message = str(e.value)
    assert message.startswith("dataset 'toy' failed 4 of 6 conformance checks:")
    for expected in ("check_named_and_of_its_modality: recordings of modality ['spikes'], the info declares 'calcium'",
                     "check_recordings_are_canonical: recording m0-s0: no waveforms, declared available",
                     "check_tasks_have_their_labels: task toy/kind: labels of only ['fast'] among its classes",
                     "check_declared_settings_make_splits: raised NeuronbenchError"):
        assert expected in message
    with pytest.raises(AssertionError, match="dataset 'other' is not registered with this info"):
        check_dataset(dataclasses.replace(dataset_example.INFO, name="other",
                                          tasks=(Task("other", "kind", "kind", ("fast", "slow"), "t"),)))


def test_a_broken_plug_in_dataset_is_skipped_with_a_warning_and_the_rest_still_load(monkeypatch, capsys):
    dataset_example.register(monkeypatch, "tests.dataset_example:NOPE", "tests.dataset_example:recordings",
                             dataclasses.replace(dataset_example.HANDMADE, name="synthetic",
                                                 tasks=(Task("synthetic", "t", "t", ("a", "b"), "t"),)))
    found = datasets.all_datasets()  # through the module: `register` replaced its cache
    err = capsys.readouterr().err
    assert "toy" not in found and found["synthetic"].kind == "simulated"  # the built-in keeps its name
    assert "skipping the plug-in dataset of entry point 'nope' (tests.dataset_example:NOPE)" in err
    assert "expected a neuronbench.protocol.datasets.DatasetInfo, got function" in err
    assert "a dataset named 'synthetic' is already registered" in err


def test_a_dataset_info_refuses_fields_that_contradict_each_other():
    task = Task("x", "t", "t", ("a", "b"), "t")
    base = {"name": "x", "summary": "s", "kind": "recorded", "modality": "spikes", "tasks": (task,)}
    for change, field in (({"kind": "measured"}, "kind"), ({"modality": "lfp"}, "modality"),
                          ({"generator": "m:f"}, "generator"), ({"tasks": ()}, "tasks"),
                          ({"tasks": (Task("y", "t", "t", ("a", "b"), "t"),)}, "tasks"),
                          ({"unsupported": {"zero-shot": "why"}}, "unsupported"),
                          ({"unsupported": dict.fromkeys(datasets.SETTINGS, "why")}, "unsupported"),
                          ({"task_protocols": {"nope": datasets.DatasetProtocol()}}, "task_protocols")):
        with pytest.raises(NeuronbenchError, match=f"dataset 'x': field '{field}': expected"):
            DatasetInfo(**{**base, **change})


def test_data_imports_no_probe_protocol_or_harness_module():
    """Layers: `neuronbench.data` sits below the probes, the protocol and the harness."""
    import ast
    from pathlib import Path

    import neuronbench.data

    above = ("neuronbench.probes", "neuronbench.protocol", "neuronbench.runner", "neuronbench.registry",
             "neuronbench.plugin", "neuronbench.testing", "neuronbench.catalog", "neuronbench.cli")
    offenders = []
    for path in sorted(Path(neuronbench.data.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(above)]
    assert offenders == []


def test_listing_datasets_and_tasks_imports_nothing_heavy():
    code = ("import sys; from neuronbench.protocol.datasets import all_datasets, all_tasks; all_datasets(); "
            "all_tasks(); print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'pandas', 'torch')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_data_prepare_reads_the_registry_and_refuses_a_simulated_dataset(capsys):
    assert main(["data", "prepare", "synthetic-tiny"]) == 2
    assert ("dataset 'synthetic-tiny' is simulated, not prepared from downloads (`neuronbench run` makes it on first "
            "use); those that are: allen, bugeon, ibl, steinmetz") in capsys.readouterr().err
    assert main(["data", "download", "nope"]) == 2
    assert "unknown dataset 'nope'; choose from: izhikevich" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["synthetic-tiny", "synthetic-tiny-calcium", "izhikevich-tiny", "synthetic-scale-tiny"])
def test_the_built_in_tiny_datasets_pass_check_dataset(name):
    check_dataset(get_dataset_info(name))
