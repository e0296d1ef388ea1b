"""`neuronbench export --format bwb-ts3`: BrainWideBench TS3 submissions from the records of
task ibl/region_bwb, read back and scored by BWB's own scorer (``ibl-bwb-eval``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neuronbench.cli import main
from neuronbench.data import ibl
from neuronbench.data.prepare import prepare
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol import bwb
from neuronbench.protocol.metrics import classification_metrics
from neuronbench.protocol.record import iter_records
from neuronbench.protocol.scoring import pooled_score
from tests.fixtures_real import write_ibl

pytest.importorskip("one.alf.io", reason="the IBL loader reads ALF with ONE-api (pip install 'neuronbench[real]')")
pytest.importorskip("iblatlas", reason="the IBL loader maps atlas ids with iblatlas (pip install 'neuronbench[real]')")
pytest.importorskip("safetensors", reason="export writes safetensors (pip install 'neuronbench[bwb]')")

SEEDS = list(bwb.EVAL_SEEDS)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The IBL fixture prepared, and the features baseline run on ibl/region_bwb
    (inductive) for BWB's five reported seeds."""
    from neuronbench.data.store import Dataset
    from neuronbench.runner import GridOptions, run_grid

    tmp = tmp_path_factory.mktemp("bwb")
    write_ibl(tmp / "raw", n_clusters=60)
    prepare(ibl, tmp / "raw", tmp / "data" / "ibl")
    options = GridOptions(probes=("linear",), results=tmp / "results", data_root=tmp / "data", progress=False)
    run_grid(["features"], "ibl", ["inductive"], SEEDS, ["region_bwb"], options)
    return tmp, Dataset(tmp / "data" / "ibl")


@pytest.fixture(autouse=True)
def _data_of_the_run(request, monkeypatch):
    """The command line reads the prepared ibl dataset of the run."""
    if "run" in request.fixturenames:
        monkeypatch.setenv("NEURONBENCH_DATA", str(request.getfixturevalue("run")[0] / "data"))


def _export(tmp: Path, out: Path, *extra: str) -> int:
    return main(["export", "--format", "bwb-ts3", "--results", str(tmp / "results"), "--method", "features",
                 "--out", str(out), *extra])


def _ground_truth(records, dataset, gt_dir: Path) -> None:
    """BWB's ground-truth file of the test units, made with BWB's own id encoder: entity_ids,
    targets (class indices) and label_names, where its scorer looks for it."""
    import torch
    from ibl_bwb_eval.entity_ids import encode_entity_ids
    from safetensors.torch import save_file

    labels = dataset.labels.set_index("neuron_id")
    ids = [i for r in records for i in r.y_true["neuron_id"]]
    targets = torch.tensor([bwb.COSMOS_LABELS.index(y) for r in records for y in r.test_labels])
    path = gt_dir / bwb.SUITE_TASK / "ground_truth.safetensors"
    path.parent.mkdir(parents=True)
    save_file({"entity_ids": encode_entity_ids(labels.loc[ids, "uuid"].to_numpy()), "targets": targets}, str(path),
              metadata={"label_names": ",".join(bwb.COSMOS_LABELS)})


def _seed_records(tmp: Path, seed: int):
    root = tmp / "results" / "ibl" / "region_bwb" / "inductive"
    return sorted((r for _, r in iter_records(root) if r.encoder_seed == seed), key=lambda r: r.fold)


def test_export_writes_a_submission_that_bwb_scores_as_we_do(run, tmp_path, capsys):
    scoring = pytest.importorskip("ibl_bwb_eval.scoring.ts3",
                                  reason="BWB's scorer: pip install --no-deps ibl-bwb-eval torchmetrics rich")
    from ibl_bwb_eval.entity_ids import decode_entity_ids
    from ibl_bwb_eval.multi_unit import multi_unit_prediction
    from safetensors import safe_open

    tmp, dataset = run
    assert _export(tmp, tmp_path / "sub") == 0
    printed = capsys.readouterr().out
    for scope in ("single", "multi"):
        for seed in SEEDS:
            assert (tmp_path / "sub" / f"features_linear_{scope}" / "ts3-unit_cosmos" / f"seed_{seed}.safetensors").is_file()
    _ground_truth(_seed_records(tmp, SEEDS[0]), dataset, tmp_path / "gt")

    bwb_scores = scoring.score_dir(tmp_path / "sub", tmp_path / "gt")
    assert sorted(bwb_scores) == sorted((f"features_linear_{s}", seed) for s in ("single", "multi") for seed in SEEDS)
    labels = dataset.labels.set_index("neuron_id")
    for seed in SEEDS:
        records = _seed_records(tmp, seed)
        y_true = [y for r in records for y in r.test_labels]
        assert set(y_true) == set(bwb.COSMOS_LABELS)  # every class occurs: the two macro-F1 definitions agree
        ours = pooled_score([r.predictions("linear") for r in records], bwb.COSMOS_LABELS)["macro_f1"]
        assert bwb_scores[("features_linear_single", seed)]["macro/f1-score"] == pytest.approx(ours, abs=1e-12)
        assert f"seed {seed}: {len(y_true)} units, macro-F1 single-unit {ours:.4f}" in printed

        path = tmp_path / "sub" / "features_linear_multi" / "ts3-unit_cosmos" / f"seed_{seed}.safetensors"
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            ids, proba = decode_entity_ids(f.get_tensor("entity_ids")), f.get_tensor("pred_proba").numpy()
        assert meta == {"label": "features_linear_multi", "task": "ts3-unit_cosmos", "seed": str(seed),
                        "ibl_bwb_eval_version": "0.1.0", "label_names": "CB,CNU,CTXsp,HB,HPF,HY,Isocortex,MB,OLF,TH",
                        "source": meta["source"]}
        neuron_ids = [i for r in records for i in r.y_true["neuron_id"]]
        assert ids.tolist() == labels.loc[neuron_ids, "uuid"].tolist()
        single = np.concatenate([np.asarray(r.probes["linear"][0]["proba"]) for r in records])
        recording = dataset.neurons.set_index("neuron_id").loc[neuron_ids, "recording"].to_numpy()
        expected = multi_unit_prediction(single, labels.loc[neuron_ids, "depth"].to_numpy(float), recording)
        np.testing.assert_allclose(proba, expected, atol=1e-6)  # float32 on disk
        names = np.asarray(bwb.COSMOS_LABELS)[expected.argmax(axis=1)]
        multi = classification_metrics(y_true, names.tolist(), bwb.COSMOS_LABELS)["macro_f1"]
        assert bwb_scores[("features_linear_multi", seed)]["macro/f1-score"] == pytest.approx(multi, abs=1e-12)
        assert f"multi-unit {multi:.4f}" in printed


def test_multi_unit_pools_the_nearest_units_on_the_same_probe():
    proba = np.eye(4)[[0, 1, 2, 3, 0, 1, 2]].astype(float)
    depths = [0.0, 50.0, 61.0, 10.0, 0.0, 20.0, 30.0]
    probes = ["a", "a", "a", "a", "b", "b", "b"]
    out = bwb.multi_unit_proba(proba, depths, probes)
    np.testing.assert_allclose(out[0], proba[[0, 3, 1]].mean(axis=0))  # 61 um away: out of reach
    np.testing.assert_allclose(out[2], proba[[2, 1, 3]].mean(axis=0))  # 11 and 51 um: both in reach
    np.testing.assert_allclose(out[4], proba[[4, 5, 6]].mean(axis=0))  # never another probe's units
    many = bwb.multi_unit_proba(np.eye(7), np.arange(7.0), ["p"] * 7)
    np.testing.assert_allclose(many[3], np.eye(7)[[1, 2, 3, 4, 5]].mean(axis=0))  # the 5 nearest only


def test_bad_inputs_are_clear_errors_and_write_nothing(run, tmp_path, capsys):
    tmp, _ = run
    out = tmp_path / "sub"
    assert _export(tmp, out, "--seeds", "42,43") == 2
    assert "seed 42 is BWB's tuning seed" in capsys.readouterr().err
    assert _export(tmp, out, "--seeds", "43,48") == 2
    assert "no record of method 'features' for encoder seed(s) [48]" in capsys.readouterr().err
    assert _export(tmp, out, "--setting", "transductive-zero-shot") == 2
    err = capsys.readouterr().err
    assert (f"no records of method 'features' for ibl/region_bwb (transductive-zero-shot) in {tmp / 'results'}"
            in err)
    assert not out.exists()

    # a record without class probabilities (made before schema 3), one with other classes
    results = tmp_path / "results"
    import shutil

    shutil.copytree(tmp / "results", results)
    (path,) = [p for p, r in iter_records(results / "ibl") if r.encoder_seed == 44]
    doc = json.loads(path.read_text())
    del doc["probes"]["linear"][0]["proba"]
    path.write_text(json.dumps(doc))
    args = ["export", "--format", "bwb-ts3", "--results", str(results), "--method", "features", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{path}: field 'probes.linear[0].proba': missing" in err
    for other, _ in iter_records(results / "ibl"):  # records of a task with other classes (or order)
        doc = json.loads(other.read_text())
        doc["task"]["classes"] = doc["task"]["classes"][::-1]
        other.write_text(json.dumps(doc))
    assert main(args) == 2
    assert "field 'task.classes': expected BWB's COSMOS_LABELS" in capsys.readouterr().err

    shutil.rmtree(results)  # records of two presets of the method: which one is asked
    shutil.copytree(tmp / "results", results)
    doc = json.loads(path.read_text())
    doc["method"]["preset"] = "paper"
    path.write_text(json.dumps(doc))
    assert main(args) == 2
    assert "with presets ['cpu', 'paper']; choose one with --preset" in capsys.readouterr().err
    assert not out.exists()


def test_existing_files_are_kept_unless_forced_and_multi_unit_needs_depths(run, tmp_path, capsys, monkeypatch):
    tmp, dataset = run
    records = {p: p.read_bytes() for p, _ in iter_records(tmp / "results")}
    out = tmp_path / "sub"
    assert _export(tmp, out, "--seeds", "43,", "--scope", "single") == 0
    target = out / "features_linear_single" / "ts3-unit_cosmos" / "seed_43.safetensors"
    target.write_bytes(b"mine")
    capsys.readouterr()
    assert _export(tmp, out, "--seeds", "43,", "--scope", "single") == 2
    assert "already exists" in capsys.readouterr().err and target.read_bytes() == b"mine"
    assert _export(tmp, out, "--seeds", "43,", "--scope", "single", "--force") == 0
    assert target.read_bytes() != b"mine"

    from neuronbench import export

    labels = dataset.labels.copy()
    labels["depth"] = None
    monkeypatch.setattr(type(dataset), "labels", property(lambda self: labels))
    done = export.export_bwb_ts3(tmp / "results", "features", tmp_path / "sub2", dataset=dataset, seeds=(43,))
    assert [p.parent.parent.name for p in done.files] == ["features_linear_single"]
    assert "no depth on the probe" in done.not_applicable["multi"] and done.seeds[0].macro_f1["multi"] is None
    with pytest.raises(NeuronbenchError, match="multi-unit read-out not applicable"):
        export.export_bwb_ts3(tmp / "results", "features", tmp_path / "sub3", dataset=dataset, seeds=(43,),
                              scopes=("multi",))
    assert not (tmp_path / "sub3").exists()
    assert {p: p.read_bytes() for p, _ in iter_records(tmp / "results")} == records  # an export changes no record


def test_the_protocol_facts_are_those_of_ibl_bwb_eval():
    from neuronbench.data.ibl import pinned_sessions

    sessions = bwb.eval_sessions()
    assert len(sessions) == len(set(sessions)) == 29
    assert set(sessions) <= set(pinned_sessions())  # all in NuCLR's session list (24 in its pretraining list)
    eval_pkg = pytest.importorskip("ibl_bwb_eval", reason="the contract: pip install --no-deps ibl-bwb-eval")
    from ibl_bwb_eval import multi_unit
    from ibl_bwb_eval.tasks import task_id

    assert sessions == tuple(eval_pkg.EVAL_RECORDING_IDS.read_text().split())
    assert bwb.COSMOS_LABELS == eval_pkg.COSMOS_LABELS
    assert (list(bwb.EVAL_SEEDS), bwb.SWEEP_SEED) == (eval_pkg.EVAL_SEEDS, eval_pkg.SWEEP_SEED)
    assert (bwb.MULTI_UNIT_RADIUS_UM, bwb.MULTI_UNIT_MAX_NEIGHBORS) == (multi_unit.MULTI_UNIT_RADIUS_UM,
                                                                         multi_unit.MULTI_UNIT_MAX_NEIGHBORS)
    assert (bwb.SUITE_TASK, bwb.CONTRACT_VERSION) == (task_id("ts3", "unit_cosmos"), eval_pkg.__version__)


def test_an_empty_results_folder_says_no_records_before_looking_for_the_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEURONBENCH_DATA", str(tmp_path / "data"))  # no ibl dataset prepared here either
    (tmp_path / "results").mkdir()
    assert _export(tmp_path, tmp_path / "sub") == 2
    err = capsys.readouterr().err
    assert f"no records of method 'features' for ibl/region_bwb (inductive) in {tmp_path / 'results'}" in err
    assert "not prepared" not in err and not (tmp_path / "sub").exists()


def test_an_unknown_method_is_named_as_such(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    code = main(["export", "--format", "bwb-ts3", "--method", "nope", "--results", str(tmp_path / "results"),
                 "--out", str(tmp_path / "sub")])
    assert code == 2 and "unknown method 'nope'" in capsys.readouterr().err and not (tmp_path / "sub").exists()
