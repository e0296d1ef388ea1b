"""neuronbench.verify: recomputed records agree; tampered ones are reported."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from neuronbench.cli import main
from neuronbench.protocol.metrics import classification_metrics
from neuronbench.protocol.record import iter_records, write_record
from neuronbench.runner import GridOptions, run_grid
from neuronbench.verify import METRIC_TOL, compare, sample_records, self_consistency, verify


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Control records of synthetic-tiny (inductive, one task, one seed), made once."""
    root = tmp_path_factory.mktemp("verify") / "results"
    run_grid(["features", "random"], "synthetic-tiny", ["inductive"], [0], tasks=["cell_class"],
             options=GridOptions(results=root, progress=False, probes=("linear",), probe_seeds=(0,)))
    return root


def _copy(results: Path, dest: Path) -> Path:
    """A copy of the records (without the embedding cache) that a test may tamper with."""
    for path, record in iter_records(results):
        write_record(dest / path.relative_to(results), record)
    return dest


def test_recomputed_records_agree(results):
    checks = list(verify(results, sample=10))
    assert len(checks) == 2 and all(c.status == "agree" for c in checks), checks
    assert all(c.max_metric_diff == 0.0 and c.min_agreement == 1.0 for c in checks)
    # the thread count of the fit is part of the record (None: a control, no torch)
    assert all(r.environment["fit_threads"] is None for _, r in iter_records(results))


def test_edited_metric_disagrees_without_recomputing(results, tmp_path):
    root = _copy(results, tmp_path / "r")
    path, record = next(iter_records(root))
    record.probes["linear"][0]["metrics"]["macro_f1"] += 0.05
    path.write_text(json.dumps(record.to_dict()))
    assert "not that of its own predictions" in self_consistency(record)
    checks = {c.path: c for c in verify(root, sample=10)}
    assert checks[path].status == "disagree"
    assert sum(c.status == "agree" for c in checks.values()) == 1


def test_consistently_tampered_predictions_disagree(results, tmp_path):
    """Predictions changed and the metrics recomputed from them: only a recomputation of
    the run can tell."""
    root = _copy(results, tmp_path / "r")
    path, record = next(iter_records(root))
    entry = record.probes["linear"][0]
    classes = record.task["classes"]
    flipped = [classes[(classes.index(p) + 1) % len(classes)] for p in entry["y_pred"][:5]]
    entry["y_pred"] = flipped + entry["y_pred"][5:]
    entry["metrics"] = classification_metrics(record.y_true["label"], entry["y_pred"], classes)
    path.write_text(json.dumps(record.to_dict()))
    assert self_consistency(record) is None
    (check,) = [c for c in verify(root, sample=10) if c.path == path]
    assert check.status == "disagree" and check.min_agreement < 1.0
    assert main(["verify", "--results", str(root), "--sample", "10"]) == 1
    assert main(["verify", "--results", str(results), "--sample", "10"]) == 0


def test_changed_config_cannot_be_recomputed(results, tmp_path):
    root = _copy(results, tmp_path / "r")
    path, record = next(iter_records(root))
    record.method["config"]["min_spikes"] = 1  # no longer hashes to its config_hash
    path.write_text(json.dumps(record.to_dict()))
    (check,) = [c for c in verify(root, sample=10) if c.path == path]
    assert check.status == "error" and "config_hash" in check.detail


def test_compare_tolerance(results):
    _, real = next(iter_records(results))
    record = replace(real, y_true={"neuron_id": ["a", "b"]},
                     probes={"linear": [{"probe_seed": 0, "metrics": {"macro_f1": 0.5}, "y_pred": ["x", "y"]}]})
    near = {"y_true": {"neuron_id": ["a", "b"]},
            "probes": {"linear": [{"probe_seed": 0, "metrics": {"macro_f1": 0.5 + METRIC_TOL / 2}, "y_pred": ["x", "y"]}]}}
    far = {"y_true": {"neuron_id": ["a", "b"]},
           "probes": {"linear": [{"probe_seed": 0, "metrics": {"macro_f1": 0.5 + 2 * METRIC_TOL}, "y_pred": ["x", "y"]}]}}
    assert compare(record, near)[0] and not compare(record, far)[0]
    other_neurons = {**near, "y_true": {"neuron_id": ["a", "c"]}}
    assert not compare(record, other_neurons)[0]


def test_sample_is_seeded_and_bounded(results, tmp_path):
    assert [p for p, _ in sample_records(results, 1, seed=0)] == [p for p, _ in sample_records(results, 1, seed=0)]
    picked = {sample_records(results, 1, seed=s)[0][0] for s in range(10)}
    assert len(picked) == 2  # both records get drawn by some seed
    assert len(sample_records(results, 99, seed=0)) == 2
    assert main(["verify", "--results", str(tmp_path / "nothing")]) == 2
