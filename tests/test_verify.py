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
    classes = record.task.classes
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
    record.method.config["min_spikes"] = 1  # no longer hashes to its config_hash
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


# -- what "agree" means for a learned method refitted elsewhere (fabricated records) -----

N_TEST = 200


def _predictions(flip: range) -> list[str]:
    """The true labels (a, b alternating) with those at ``flip`` swapped."""
    return ["b" if (i % 2 == 0) == (i in flip) else "a" for i in range(N_TEST)]


def _entry(y_pred: list[str]) -> dict:
    y_true = _predictions(range(0))
    return {"probe_seed": 0, "params": None, "metrics": classification_metrics(y_true, y_pred, ["a", "b"]),
            "y_pred": y_pred}


def _learned(template, seed: int, flip: range, env: dict):
    return replace(template, method=replace(template.method, name="learned"), encoder_seed=seed,
                   task=replace(template.task, classes=("a", "b")),
                   y_true={"neuron_id": [f"n{i}" for i in range(N_TEST)], "label": _predictions(range(0))},
                   probes={"linear": [_entry(_predictions(flip))]}, environment={**template.environment, **env})


HERE = {"torch": "2.13.0+cpu", "numpy": "2.4.6", "scikit_learn": "1.9.1", "cpu": "AMD EPYC [avx avx2 fma]"}


@pytest.fixture()
def cell(results, tmp_path):
    """A learned method's cell: encoder seeds 0, 1, 2 whose predictions differ in 10, 30
    and 20 test neurons, recorded on another CPU."""
    _, template = next(iter_records(results))
    folder = tmp_path / "cell"
    for seed, flip in ((0, range(10)), (1, range(30)), (2, range(20))):
        write_record(folder / f"fold0-seed{seed}.json",
                     _learned(template, seed, flip, {**HERE, "cpu": "Intel Xeon [avx avx2 avx512f fma]"}))
    return folder


def _redone(record, flip: range) -> dict:
    return {"y_true": record.y_true, "probes": {"linear": [_entry(_predictions(flip))]}}


def test_a_refit_elsewhere_agrees_within_the_seed_spread_and_says_so(cell):
    from neuronbench.verify import criterion_for

    path = cell / "fold0-seed0.json"
    (record,) = [r for p, r in iter_records(cell) if p == path]
    criterion = criterion_for(path, record, "method", HERE)
    assert criterion.name == "seed spread"
    assert "cpu Intel Xeon [avx avx2 avx512f fma] in the record, AMD EPYC [avx avx2 fma] here" in criterion.why
    f1 = {s: classification_metrics(_predictions(range(0)), _predictions(range(n)), ["a", "b"])["macro_f1"]
          for s, n in ((0, 10), (1, 30), (2, 20))}
    spread = max(f1.values()) - min(f1.values())
    assert criterion.limits("linear", 0)[0] == pytest.approx(spread)
    assert criterion.limits("linear", 0)[1] == pytest.approx(1 - 20 / N_TEST)  # seed 1 shares 180 of 200
    assert f"macro-F1 range {spread:.4f}" in criterion.why
    # 5 more flips: beyond the exact rule, within the spread of the seeds
    ok, detail, diff, _ = compare(record, _redone(record, range(15)), criterion)
    assert ok and diff > METRIC_TOL and detail.startswith("seed spread criterion (another environment")
    assert not compare(record, _redone(record, range(15)))[0]  # the exact rule would say no
    # further from the record than any seed is: disagrees
    ok, detail, _, _ = compare(record, _redone(record, range(45)), criterion)
    assert not ok and "limit" in detail


def test_a_refit_in_the_records_environment_and_a_control_keep_the_exact_rule(cell, tmp_path):
    from neuronbench.verify import criterion_for

    path = cell / "fold0-seed0.json"
    (record,) = [r for p, r in iter_records(cell) if p == path]
    same = criterion_for(path, record, "method", {**HERE, "cpu": record.environment["cpu"]})
    assert same.name == "exact" and "in the record's environment" in same.why
    assert not compare(record, _redone(record, range(15)), same)[0]
    assert compare(record, _redone(record, range(10)), same)[0]
    control = criterion_for(path, record, "control", HERE)
    assert control.name == "exact" and not compare(record, _redone(record, range(15)), control)[0]
    # a record that does not state its environment (older records) is measured by the spread
    unknown = replace(record, environment={**record.environment, "cpu": None})
    assert criterion_for(path, unknown, "method", HERE).name == "seed spread"
    # without sibling seeds there is no spread to measure: the exact rule, said why
    alone = tmp_path / "alone" / "fold0-seed0.json"
    write_record(alone, record)
    lone = criterion_for(alone, record, "method", HERE)
    assert lone.name == "exact" and "no sibling encoder seed" in lone.why


def test_verify_recomputes_the_records_named(results, capsys):
    path, _ = next(iter_records(results))
    assert main(["verify", "--record", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"agree    {path}: exact criterion (a deterministic control)" in out and "1 agree" in out
    assert main(["verify", "--record", str(path.with_name("nope.json"))]) == 2
