"""The four public datasets end to end on their fixtures: `neuronbench data prepare`, the
published splits, and `neuronbench run --method features --split inductive`."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from neuronbench import cli
from neuronbench.data import allen, bugeon, ibl, steinmetz
from neuronbench.data.prepare import prepare
from neuronbench.data.store import Dataset, write_dataset
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.datasets import DatasetProtocol, get_dataset_info, get_task, tasks_for
from neuronbench.protocol.settings import make_split
from tests import dataset_example
from tests import fixtures_real as fx
from tests.conftest import small_recordings

pytest.importorskip("h5py", reason="the Allen loader reads NWB with h5py (pip install 'neuronbench[real]')")
pytest.importorskip("one.alf.io", reason="the IBL loader reads ALF with ONE-api (pip install 'neuronbench[real]')")
pytest.importorskip("iblatlas", reason="the IBL loader maps atlas ids with iblatlas (pip install 'neuronbench[real]')")

MODULES = {"bugeon": bugeon, "steinmetz": steinmetz, "ibl": ibl, "allen": allen}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Each fixture written in its native layout and prepared into one data root."""
    raw, root = tmp_path_factory.mktemp("real-raw"), tmp_path_factory.mktemp("real-data")
    for name, module in MODULES.items():
        getattr(fx, f"write_{name}")(raw / name)
        prepare(module, raw / name, root / name)
    return raw, root


@pytest.fixture()
def data_env(prepared, monkeypatch):
    monkeypatch.setenv("NEURONBENCH_DATA", str(prepared[1]))
    return prepared


@pytest.mark.parametrize("name", list(MODULES))
def test_run_features_inductive_end_to_end(data_env, name, tmp_path):
    results = tmp_path / "results"
    rc = cli.main(
        [
            "run",
            "--method",
            "features",
            "--dataset",
            name,
            "--split",
            "inductive",
            "--probes",
            "linear",
            "--seeds",
            "1",
            "--results",
            str(results),
            "--no-progress",
        ]
    )
    assert rc == 0
    records = [json.loads(p.read_text()) for p in results.rglob("*.json") if "cache" not in p.parts]
    tasks = tasks_for(name)
    n_folds = 6 if name == "allen" else 1  # Allen: one fold per labelled session of the fixture
    assert len(records) == len(tasks) * n_folds
    for r in records:
        assert r["status"] == "ok", r["reason"]
        assert r["dataset"]["name"] == name and r["setting"] == "inductive"
        assert 0.0 <= r["probes"]["linear"][0]["metrics"]["macro_f1"] <= 1.0


def _split(name: str, task: str, setting: str, root):
    return make_split(Dataset(root / name), get_task(name, task), setting)


def test_bugeon_published_split(data_env):
    _, root = data_env
    ds = Dataset(root / "bugeon")
    rec_of = dict(zip(ds.neurons["neuron_id"], ds.neurons["recording"]))
    dev = set(get_dataset_info("bugeon").published.dev_recordings)
    for task in ("cell_class", "subclass"):
        (fold,) = _split("bugeon", task, "inductive", root).folds
        assert fold.test_animals == ("SB028",)
        assert not any(r.startswith("sb028") for r in fold.pretrain) and len(fold.pretrain) == 6
        assert {rec_of[i] for i in fold.test} == {"sb028_20191107"}  # sb028_20191106 is a development session
        for setting in ("transductive", "transductive-zero-shot", "inductive"):
            for f in _split("bugeon", task, setting, root).folds:
                assert not {rec_of[i] for i in f.test} & dev


def test_steinmetz_published_split(data_env):
    _, root = data_env
    (fold,) = _split("steinmetz", "region", "inductive", root).folds
    assert fold.test_animals == ("Cori", "Forssmann", "Hench")
    assert sorted({r.split("_")[0] for r in fold.pretrain}) == ["lederberg", "moniz", "muller"]
    assert {i.split("/")[1].split("_")[0] for i in fold.test} == {"cori", "forssmann", "hench"}


def test_allen_leave_one_session_out_over_the_labelled_sessions(data_env):
    _, root = data_env
    labelled = sorted(fx.ALLEN_SESSIONS)[:6]
    ind = _split("allen", "cell_type", "inductive", root)
    zs = _split("allen", "cell_type", "transductive-zero-shot", root)
    all_recs = Dataset(root / "allen").recordings["recording"].tolist()
    for split in (ind, zs):
        assert [f.test_animals for f in split.folds] == [(s,) for s in labelled]
        for f in split.folds:
            (held,) = f.test_animals
            assert {i.split("/")[1].split("_")[0] for i in f.test} == {held}
            assert {i.split("/")[1].split("_")[0] for i in f.train + f.val} <= set(labelled) - {held}
    for f in ind.folds:  # inductive: no labelled session is pretrained on, only the others
        assert {r.split("_")[0] for r in f.pretrain} == {"766640955"}
    assert all(sorted(f.pretrain) == sorted(all_recs) for f in zs.folds)


def test_ibl_inductive_holds_out_whole_mice(data_env):
    _, root = data_env
    (fold,) = _split("ibl", "region", "inductive", root).folds
    assert len(fold.test_animals) == 1
    assert not any(r.startswith(fold.test_animals[0] + "_") for r in fold.pretrain)


def test_leave_one_out_over_eval_animals_on_hand_made_data(tmp_path, monkeypatch):
    """The split machinery for a dataset with ``eval_animals`` (NuCLR's Allen protocol)."""
    dataset_example.register(monkeypatch, dataclasses.replace(
        dataset_example.HANDMADE, published=DatasetProtocol(eval_animals=("m0", "m1"))))
    ds = Dataset(write_dataset(tmp_path / "handmade", "handmade", small_recordings(), label_columns=["cell_class"]))
    task = dataset_example.HANDMADE.tasks[0]
    animal = dict(zip(ds.neurons["neuron_id"], ds.neurons["animal"]))
    ind = make_split(ds, task, "inductive")
    assert [f.test_animals for f in ind.folds] == [("m0",), ("m1",)]
    for f, other in zip(ind.folds, ("m1", "m0")):
        assert sorted(f.pretrain) == ["m2-s0", "m2-s1"]  # every evaluated animal stays out of pretraining
        assert {animal[i] for i in f.train + f.val} == {other}  # m2's labels are not part of the protocol
        assert {animal[i] for i in f.test} == set(f.test_animals)
    zs = make_split(ds, task, "transductive-zero-shot")
    assert [f.test_animals for f in zs.folds] == [("m0",), ("m1",)] and all(len(f.pretrain) == 6 for f in zs.folds)
    (tr,) = make_split(ds, task, "transductive").folds
    assert {animal[i] for i in tr.train + tr.val + tr.test} == {"m0", "m1"}


def test_cli_prepare_refuses_to_overwrite_and_reports_a_missing_folder(prepared, tmp_path, monkeypatch, capsys):
    raw, _ = prepared
    monkeypatch.setenv("NEURONBENCH_DATA", str(tmp_path))
    assert cli.main(["data", "prepare", "steinmetz", "--raw", str(raw / "steinmetz")]) == 0
    first = Dataset(tmp_path / "steinmetz").checksum
    assert cli.main(["data", "prepare", "steinmetz", "--raw", str(raw / "steinmetz")]) == 2
    err = capsys.readouterr().err
    assert "already prepared" in err and "--force" in err
    assert cli.main(["data", "prepare", "steinmetz", "--raw", str(raw / "steinmetz"), "--force"]) == 0
    assert Dataset(tmp_path / "steinmetz").checksum == first  # preparing is deterministic
    assert cli.main(["data", "prepare", "bugeon", "--raw", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    with pytest.raises(NeuronbenchError, match="not prepared"):
        from neuronbench.protocol.datasets import load_dataset

        load_dataset("ibl")


def test_cli_prepare_force_with_a_bad_raw_folder_keeps_the_prepared_dataset(prepared, tmp_path, monkeypatch, capsys):
    raw, _ = prepared
    monkeypatch.setenv("NEURONBENCH_DATA", str(tmp_path / "data"))
    assert cli.main(["data", "prepare", "steinmetz", "--raw", str(raw / "steinmetz")]) == 0
    first = Dataset(tmp_path / "data" / "steinmetz").checksum
    bad = tmp_path / "bad"
    shutil.copytree(raw / "steinmetz", bad)
    session = next(p.parent for p in bad.rglob("spikes.times.npy"))
    (session / "clusters.probes.npy").write_bytes(b"not an array")  # fails after a session or more was read
    capsys.readouterr()
    assert cli.main(["data", "prepare", "steinmetz", "--raw", str(bad), "--force"]) == 2
    assert "clusters.probes.npy" in capsys.readouterr().err
    assert Dataset(tmp_path / "data" / "steinmetz").verify().checksum == first
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["steinmetz"]  # no temporary folder left
