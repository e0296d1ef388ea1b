"""The leaderboard (`neuronbench.reports`): pooled-fold scoring, mean ± std over seeds, N/A and incomplete cells,
refusal of duplicate or mixed records, byte-identical reruns."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuronbench.errors import NeuronbenchError
from neuronbench.reports.aggregate import aggregate, paired_rows, seed_values
from neuronbench.reports.build import build_leaderboard
from neuronbench.reports.markdown import render_markdown
from neuronbench.protocol.metrics import chance_levels, classification_metrics
from neuronbench.protocol.record import SCHEMA_VERSION, Record, iter_records, record_path, write_record

DATASET, TASK = "toy", "cell_type"
CLASSES = ["pv", "sst", "vip"]
SEEDS = (0, 1, 2)
PROBE_SEEDS = (0, 1)
# setting -> number of folds (leave-one-animal-out for the zero-shot one)
SETTINGS = {"transductive": 1, "inductive": 3}
# name -> (kind, config hash, how often its predictions are right)
METHODS = {"nuclr": ("method", "aaaa11112222", 0.8), "neuprint": ("baseline", "bbbb11112222", 0.6),
           "random": ("control", "cccc11112222", 0.0)}
NA_REASON = "neuprint is transductive: it needs the test animals in pretraining"
NUCLR = 5  # column of the first method in a table row: task, # classes, setting, 2 chance levels


def fold_labels(setting: str, fold: int) -> tuple[list[str], list[str]]:
    """Test neurons of one fold (the same for every method and seed), imbalanced classes."""
    rng = np.random.default_rng([len(setting), fold])
    n = 18 if setting == "transductive" else 10 + 2 * fold
    labels = list(rng.choice(CLASSES, size=n, p=[0.5, 0.3, 0.2]))
    return [f"{DATASET}/animal{fold}/u{i}" for i in range(n)], [str(y) for y in labels]


def make_record(method: str, setting: str, fold: int, seed: int, *, status: str = "ok", reason: str | None = None,
                preset: str = "cpu", config_hash: str | None = None, split_checksum: str = "split-sum-1",
                probes: tuple[str, ...] = ("linear",), label_fraction: float = 1.0,
                pretrain_animals: int | None = None) -> Record:
    """A complete, realistic record of one run."""
    kind, default_hash, skill = METHODS[method]
    ids, labels = fold_labels(setting, fold)
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "status": status, "reason": reason,
        "method": {"name": method, "kind": kind, "preset": preset, "config": {"dim": 8},
                   "config_hash": config_hash or default_hash, "paper": None, "supervised": False},
        "dataset": {"name": DATASET, "checksum": "data-sum-1"},
        "task": {"name": TASK, "label": "subclass", "classes": CLASSES},
        "setting": setting, "fold": fold, "n_folds": SETTINGS[setting], "encoder_seed": seed, "split_seed": 0,
        "label_fraction": label_fraction, "pretrain_animals": pretrain_animals,
        "budget": None if kind == "control" else 1.0,
        "split": {"version": 1, "checksum": split_checksum, "n_train": 40, "n_val": 10, "n_test": len(ids),
                  "test_groups": [f"animal{fold}"]},
        "chance": chance_levels(labels, CLASSES) if status == "ok" else None,
        "y_true": {"neuron_id": ids, "label": labels} if status == "ok" else None,
        "probes": None,
        "environment": {"neuronbench": "0.1.0", "git_commit": None, "python": "3.11", "numpy": np.__version__,
                        "torch": None, "device": "cpu", "host_cores": 2},
        "timings": {"fit_s": 1.0, "embed_s": 0.1, "probe_s": 0.2, "total_s": 1.3},
    }
    if status == "ok":
        record["probes"] = {}
        for probe in probes:
            runs = []
            for probe_seed in PROBE_SEEDS:
                rng = np.random.default_rng([len(method), len(setting), fold, seed, probe_seed, len(probe)])
                guess = rng.choice(CLASSES, size=len(labels))
                y_pred = [y if rng.random() < skill else str(g) for y, g in zip(labels, guess)]
                runs.append({"probe_seed": probe_seed, "params": {"C": 1.0}, "y_pred": y_pred,
                             "metrics": classification_metrics(labels, y_pred, CLASSES)})
            record["probes"][probe] = runs
    return Record.from_dict(record, "make_record")


def save(root: Path, record: Record) -> Path:
    path = record.path(root)
    write_record(path, record)
    return path


def write_results(root: Path) -> Path:
    """3 methods (method, baseline, control) x 2 settings (1 and 3 folds) x 3 seeds; the
    baseline is not applicable in the inductive setting."""
    for method in METHODS:
        for setting, n_folds in SETTINGS.items():
            if method == "neuprint" and setting == "inductive":
                save(root, make_record(method, setting, 0, 0, status="not_applicable", reason=NA_REASON))
                continue
            for seed in SEEDS:
                for fold in range(n_folds):
                    save(root, make_record(method, setting, fold, seed))
    return root


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """`write_results` in a temporary folder."""
    return write_results(tmp_path / "results")


def row(df, method: str, setting: str, probe: str = "linear", metric: str = "macro_f1"):
    hit = df[(df["method"] == method) & (df["setting"] == setting) & (df["probe"] == probe)
             & (df["metric"] == metric)]
    assert len(hit) == 1
    return hit.iloc[0]


def table_row(markdown: str, setting: str) -> list[str]:
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {TASK} | 3 | {setting} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_pooled_folds_and_mean_std_over_seeds(results: Path) -> None:
    df = aggregate(iter_records(results))
    per_seed, fold_averaged = [], []
    for seed in SEEDS:
        records = [make_record("nuclr", "inductive", fold, seed) for fold in range(3)]
        pooled = []
        for i, _ in enumerate(PROBE_SEEDS):
            y_true = [y for r in records for y in r.y_true["label"]]
            y_pred = [y for r in records for y in r.probes["linear"][i]["y_pred"]]
            pooled.append(classification_metrics(y_true, y_pred, CLASSES)["macro_f1"])
            fold_averaged.append(np.mean([r.probes["linear"][i]["metrics"]["macro_f1"] for r in records]))
        per_seed.append(np.mean(pooled))
    r = row(df, "nuclr", "inductive")
    assert r["status"] == "ok" and r["folds"] == "3/3" and r["n_seeds"] == 3
    assert r["mean"] == pytest.approx(np.mean(per_seed), abs=1e-12)
    assert r["std"] == pytest.approx(np.std(per_seed, ddof=1), abs=1e-12)
    assert r["mean"] != pytest.approx(np.mean(fold_averaged), abs=1e-6)  # pooled, not fold-averaged
    labels = [y for fold in range(3) for y in fold_labels("inductive", fold)[1]]
    assert r["chance_uniform"] == pytest.approx(chance_levels(labels, CLASSES)["uniform_macro_f1"])
    assert set(df.columns) >= {"n_classes", "kind", "preset", "config_hash", "reason", "chance_majority"}


def test_one_seed_has_zero_std(tmp_path: Path) -> None:
    rec = make_record("nuclr", "transductive", 0, 0)
    df = aggregate([rec])
    r = row(df, "nuclr", "transductive", metric="accuracy")
    expected = np.mean([classification_metrics(rec.y_true["label"], run["y_pred"], CLASSES)["accuracy"]
                        for run in rec.probes["linear"]])
    assert r["mean"] == pytest.approx(expected) and r["std"] == 0.0 and r["n_seeds"] == 1


def test_not_applicable_shows_reason_and_columns_are_ordered(results: Path) -> None:
    df = aggregate(iter_records(results))
    assert row(df, "neuprint", "inductive")["status"] == "not_applicable"
    md = render_markdown(df, DATASET)
    header = next(line for line in md.splitlines() if line.startswith("| Task"))
    assert header == ("| Task | # Classes | Setting | Chance: uniform guess (macro-F1) | "
                      "Chance: majority class (macro-F1) | nuclr | neuprint | random | Winner |")
    assert table_row(md, "inductive")[NUCLR + 1] == "N/A [1]"
    assert f"- [1] {NA_REASON}" in md
    assert "pooled over all folds" in md


def test_failed_reasons_are_deduplicated_footnotes(results: Path) -> None:
    for seed in SEEDS:
        save(results, make_record("random", "transductive", 0, seed, status="failed", reason="out of memory",
                                  config_hash="cccc11112222"))
    md = render_markdown(aggregate(iter_records(results)), DATASET)
    assert table_row(md, "transductive")[NUCLR + 2] == "failed [1]"
    assert table_row(md, "inductive")[NUCLR + 1] == "N/A [2]"
    assert md.count("out of memory") == 1


def test_missing_fold_makes_the_cell_incomplete(results: Path) -> None:
    record_path(results, DATASET, TASK, "inductive", "nuclr", "aaaa11112222", 2, 1).unlink()
    df = aggregate(iter_records(results))
    r = row(df, "nuclr", "inductive")
    assert r["status"] == "incomplete" and r["folds"] == "2/3" and np.isnan(r["mean"])
    md = render_markdown(df, DATASET, paired=paired_rows(df, iter_records(results)))
    assert table_row(md, "inductive")[NUCLR] == "incomplete (2/3 folds)"
    assert table_row(md, "inductive")[-2:] == ["–", "–"]  # no number on the method side


def test_delta_is_best_method_minus_best_baseline_and_best_control(results: Path) -> None:
    records = list(iter_records(results))
    df = aggregate(records)
    md = render_markdown(df, DATASET, paired=paired_rows(df, records))
    for setting, others in (("transductive", ("neuprint", "random")), ("inductive", (None, "random"))):
        for cell, other in zip(table_row(md, setting)[-2:], others):
            if other is None:
                assert cell == "–"
                continue
            delta = row(df, "nuclr", setting)["mean"] - row(df, other, setting)["mean"]
            assert cell.startswith(f"{delta:+.4f} [")
    r = row(df, "nuclr", "transductive")
    assert table_row(md, "transductive")[NUCLR] == f"**{r['mean']:.4f} ± {r['std']:.4f}**"  # the winner


def test_stale_config_hash_is_refused_naming_both_files(results: Path) -> None:
    new = save(results, make_record("nuclr", "transductive", 0, 0, config_hash="dddd11112222"))
    old = record_path(results, DATASET, TASK, "transductive", "nuclr", "aaaa11112222", 0, 0)
    with pytest.raises(NeuronbenchError, match="stale records") as err:
        build_leaderboard(results, results.parent / "leaderboards")
    assert str(new) in str(err.value) and str(old) in str(err.value)


def test_other_preset_is_its_own_column(results: Path) -> None:
    for seed in SEEDS:
        save(results, make_record("nuclr", "transductive", 0, seed, preset="paper", config_hash="eeee11112222"))
    md = render_markdown(aggregate(iter_records(results)), DATASET)
    assert "| nuclr | nuclr [paper] | neuprint | random |" in md
    assert table_row(md, "inductive")[NUCLR + 1] == "not run"


def test_split_and_data_mismatches_are_refused(results: Path) -> None:
    path = record_path(results, DATASET, TASK, "inductive", "random", "cccc11112222", 1, 2)
    write_record(path, make_record("random", "inductive", 1, 2, split_checksum="split-sum-2"))
    with pytest.raises(NeuronbenchError, match="split checksums") as err:
        aggregate(iter_records(results))
    assert str(path) in str(err.value)
    record = make_record("random", "inductive", 1, 2)
    record = replace(record, dataset=replace(record.dataset, checksum="data-sum-2"))
    write_record(path, record)
    with pytest.raises(NeuronbenchError, match="dataset checksums") as err:
        aggregate(iter_records(results))
    assert str(path) in str(err.value)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its path relative to it (POSIX)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def add_mlp_probe(results: Path) -> None:
    for seed in SEEDS:  # a second probe for nuclr, inductive: its own tables and figure
        for fold in range(3):
            save(results, make_record("nuclr", "inductive", fold, seed, probes=("linear", "mlp")))


@pytest.fixture
def quick_figures(monkeypatch) -> None:
    """A stand-in PNG per figure, for tests of which files are written (the figures
    themselves are checked by the byte-identity and figure tests)."""
    import pandas as pd

    import neuronbench.reports.build as lb

    def png(kind: str, *args) -> bytes:
        text = [a.to_csv(index=False) if isinstance(a, pd.DataFrame) else repr(a) for a in args]
        return b"\x89PNG\r\n\x1a\n" + kind.encode() + hashlib.sha256(repr(text).encode()).digest()

    monkeypatch.setattr(lb, "figure_png", png)


GENERATED = ["README.md", "leaderboard-manifest.json", "site/index.html", "site/records-toy.html", "site/style.css",
             "site/toy-linear-confusion-cell_type.png", "site/toy-linear.png", "site/toy-mlp-confusion-cell_type.png",
             "site/toy-mlp.png", "site/toy-paired.csv", "site/toy-per-class.csv", "site/toy.csv", "site/toy.html",
             "toy-paired.csv", "toy-per-class.csv", "toy.csv", "toy.md"]


def test_build_is_byte_identical_and_removes_only_its_own_stale_files(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "leaderboards"
    out.mkdir()
    users = {"gone.md": b"old", "gone-linear.png": b"old", "notes.txt": b"kept", "notes.md": b"# my notes\n",
             "mydata.csv": b"a,b\n1,2\n"}
    for name, data in users.items():
        (out / name).write_bytes(data)
    add_mlp_probe(results)
    first = build_leaderboard(results, out)
    assert sorted(p.relative_to(out).as_posix() for p in first) == GENERATED
    files = snapshot(out)
    assert {n: files[n] for n in users} == users  # files it did not write are never touched
    assert set(files) == set(users) | set(GENERATED)  # and no temporary file is left
    assert files["site/toy-linear.png"].startswith(b"\x89PNG")
    assert files["site/toy.csv"] == files["toy.csv"]  # the site's copy, so that it deploys alone
    manifest = json.loads(files["leaderboard-manifest.json"])
    assert manifest["files"] == {n: hashlib.sha256(files[n]).hexdigest() for n in GENERATED
                                 if n != "leaderboard-manifest.json"}
    assert build_leaderboard(results, out) == first
    assert snapshot(out) == files

    md = files["toy.md"].decode()
    titles = [line for line in md.splitlines() if line.startswith("### ")]
    assert titles == ["### linear probe, macro-F1", "### linear probe, accuracy (top-1)",
                      "### linear probe, balanced accuracy", "### mlp probe, macro-F1"]
    # the mlp probe ran only for nuclr: the others are incomplete there, not silently blank
    mlp_table = md.split("### mlp probe")[1]
    assert table_row(mlp_table, "transductive")[NUCLR] == "incomplete (0/1 folds)"
    csv = files["toy.csv"].decode()
    assert "\r" not in csv and csv.splitlines()[0].startswith("dataset,task,n_classes,setting,method,kind")
    assert "toy.md" in files["README.md"].decode() and "never edited by hand" in files["README.md"].decode()

    # the mlp records are gone: its figure, which the tool wrote, goes; the user's files stay
    for seed in SEEDS:
        for fold in range(3):
            save(results, make_record("nuclr", "inductive", fold, seed))
    assert "toy-mlp.png" not in [p.name for p in build_leaderboard(results, out)]
    after = snapshot(out)
    gone = {"site/toy-mlp.png", "site/toy-mlp-confusion-cell_type.png"}
    assert not gone & set(after) and {n: after[n] for n in users} == users
    assert not gone & set(json.loads(after["leaderboard-manifest.json"])["files"])


@pytest.mark.parametrize("make_results", ["missing", "empty"])
def test_missing_or_empty_results_exit_2_and_delete_nothing(tmp_path: Path, make_results: str, capsys) -> None:
    from neuronbench.cli import main

    results = tmp_path / "reslts"  # a typo
    if make_results == "empty":
        results.mkdir()
        (results / "notes.txt").write_text("no records here")
    out = tmp_path / "leaderboards"
    out.mkdir()
    for name in ("notes.md", "mydata.csv", "plot.png", "README.md"):
        (out / name).write_text(f"the user's {name}")
    before = snapshot(out)
    assert main(["leaderboard", "--results", str(results), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(results) in err and "Traceback" not in err
    assert ("does not exist" if make_results == "missing" else "no result record") in err
    assert snapshot(out) == before


@pytest.mark.parametrize("name", ["README.md", "toy.md", "toy.csv", "site/toy-linear.png"])
def test_a_user_file_with_a_generated_name_is_refused_and_nothing_written(
        results: Path, tmp_path: Path, quick_figures, name: str, capsys) -> None:
    from neuronbench.cli import main

    out = tmp_path / "project"  # e.g. --out . in a user's project
    (out / name).parent.mkdir(parents=True)
    (out / name).write_text("the user's own file")
    (out / "notes.md").write_text("mine")
    before = snapshot(out)
    assert main(["leaderboard", "--results", str(results), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(out / name) in err and "not written by" in err
    assert snapshot(out) == before


def test_curve_points_are_not_table_cells(results: Path, tmp_path: Path, quick_figures) -> None:
    reference = snapshot(build_leaderboard(results, tmp_path / "reference")[0].parent)
    assert not [name for name in reference if "curve" in name or "efficiency" in name or "scale" in name]
    assert b'id="curves"' not in reference["site/toy.html"]  # no curve records, no curve section
    for seed in SEEDS:
        save(results, make_record("nuclr", "transductive", 0, seed, label_fraction=0.05))
        save(results, make_record("nuclr", "transductive", 0, seed, pretrain_animals=1))
    with_curves = snapshot(build_leaderboard(results, tmp_path / "with-curves")[0].parent)
    tables = ["toy.md", "toy.csv", "toy-paired.csv", "toy-per-class.csv", "site/toy-linear.png",
              "site/toy-linear-confusion-cell_type.png", "site/records-toy.html"]
    assert {n: with_curves[n] for n in tables} == {n: reference[n] for n in tables}
    added = {"toy-curves.csv", "site/toy-curves.csv", "site/toy-linear-label-efficiency.png",
             "site/toy-linear-pretraining-scale.png"}
    assert set(with_curves) - set(reference) == added
    assert b'id="curves"' in with_curves["site/toy.html"]


def test_a_user_file_identical_to_the_generated_one_is_accepted(results: Path, tmp_path: Path, quick_figures) -> None:
    reference = build_leaderboard(results, tmp_path / "reference")[0].parent
    out = tmp_path / "out"
    out.mkdir()
    (out / "toy.md").write_bytes((reference / "toy.md").read_bytes())
    build_leaderboard(results, out)
    assert snapshot(out) == snapshot(reference)


def test_an_edited_generated_file_is_refused(results: Path, tmp_path: Path, quick_figures) -> None:
    out = tmp_path / "leaderboards"
    add_mlp_probe(results)
    build_leaderboard(results, out)
    (out / "toy.md").write_text((out / "toy.md").read_text() + "\nmy annotation\n")
    before = snapshot(out)
    with pytest.raises(NeuronbenchError, match="changed after") as err:
        build_leaderboard(results, out)
    assert str(out / "toy.md") in str(err.value)
    assert snapshot(out) == before
    # an edited file the run would remove (the mlp figure, once its records are gone) too
    (out / "toy.md").write_bytes(before["toy.md"].replace(b"\nmy annotation\n", b""))
    (out / "site/toy-mlp.png").write_bytes(b"my own figure now")
    for seed in SEEDS:
        for fold in range(3):
            save(results, make_record("nuclr", "inductive", fold, seed))
    with pytest.raises(NeuronbenchError, match="changed after") as err:
        build_leaderboard(results, out)
    assert str(out / "site/toy-mlp.png") in str(err.value)
    assert (out / "site/toy-mlp.png").read_bytes() == b"my own figure now"


def test_a_foreign_manifest_is_refused(results: Path, tmp_path: Path, quick_figures) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "leaderboard-manifest.json").write_text('{"files": {"../../etc/passwd": "x"}}')
    with pytest.raises(NeuronbenchError, match="not a manifest written by"):
        build_leaderboard(results, out)
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard-manifest.json"]


def test_a_folder_from_before_manifests_is_regenerated(results: Path, tmp_path: Path, quick_figures) -> None:
    """As the committed leaderboards/ once was: README index + the files it lists (figures
    at the top), no manifest."""
    out = tmp_path / "leaderboards"
    add_mlp_probe(results)
    build_leaderboard(results, out)
    (out / "leaderboard-manifest.json").unlink()
    shutil.rmtree(out / "site")  # the site came after the manifest
    (out / "toy.md").write_text("# Leaderboard: toy\n\nan older rendering\n")
    (out / "notes.md").write_text("mine")
    (out / "toy-mlp.png").write_bytes(b"\x89PNG\r\n\x1a\nan older figure")  # listed, no longer generated
    (out / "README.md").write_text((out / "README.md").read_text() + "- [toy-mlp.png](toy-mlp.png)\n")
    for seed in SEEDS:
        for fold in range(3):
            save(results, make_record("nuclr", "inductive", fold, seed))
    build_leaderboard(results, out)
    files = snapshot(out)
    assert "toy-mlp.png" not in files and files["notes.md"] == b"mine"
    assert files["toy.md"].startswith(b"# Leaderboard: toy\n\nGenerated by")
    assert "leaderboard-manifest.json" in files

    # a listed file that is not of the generated form is the user's: refused
    (out / "leaderboard-manifest.json").unlink()
    (out / "toy.md").write_text("my own page")
    with pytest.raises(NeuronbenchError, match="not a file this tool writes") as err:
        build_leaderboard(results, out)
    assert str(out / "toy.md") in str(err.value) and (out / "toy.md").read_text() == "my own page"


def test_a_failure_while_rendering_writes_nothing(results: Path, tmp_path: Path, monkeypatch) -> None:
    import neuronbench.reports.build as lb

    out = tmp_path / "leaderboards"
    build_leaderboard(results, out)
    add_mlp_probe(results)
    before = snapshot(out)
    calls = []

    def failing(*args):
        calls.append(args)
        if len(calls) == 2:  # after the first figure rendered
            raise RuntimeError("renderer crashed")
        return b"\x89PNG fake"

    monkeypatch.setattr(lb, "figure_png", failing)
    with pytest.raises(RuntimeError):
        build_leaderboard(results, out)
    assert snapshot(out) == before


def test_an_interrupted_run_is_finished_by_the_rerun(results: Path, tmp_path: Path, quick_figures, monkeypatch) -> None:
    import neuronbench.reports.files as lb

    out = tmp_path / "leaderboards"
    build_leaderboard(results, out)
    add_mlp_probe(results)  # new results: every page changes
    write, calls = lb._write, []

    def interrupted(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        write(path, data)

    monkeypatch.setattr(lb, "_write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_leaderboard(results, out)
    monkeypatch.setattr(lb, "_write", write)
    build_leaderboard(results, out)
    assert snapshot(out) == snapshot(build_leaderboard(results, tmp_path / "fresh")[0].parent)


def test_out_inside_results_or_a_file_is_refused(results: Path, tmp_path: Path, quick_figures) -> None:
    with pytest.raises(NeuronbenchError, match="inside the results folder"):
        build_leaderboard(results, results / "leaderboards")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NeuronbenchError, match="not a folder"):
        build_leaderboard(results, tmp_path / "afile")
    assert not (results / "leaderboards").exists() and (tmp_path / "afile").read_text() == "x"


def test_each_metric_has_its_own_chance_levels(results: Path) -> None:
    df = aggregate(iter_records(results))
    labels = [y for fold in range(3) for y in fold_labels("inductive", fold)[1]]
    counts = [labels.count(c) for c in CLASSES]
    f1 = chance_levels(labels, CLASSES)
    expected = {"macro_f1": (f1["uniform_macro_f1"], f1["majority_macro_f1"]),
                "accuracy": (1 / 3, max(counts) / len(labels)),
                "balanced_accuracy": (1 / 3, 1 / sum(c > 0 for c in counts))}
    for metric, (uniform, majority) in expected.items():
        r = row(df, "nuclr", "inductive", metric=metric)
        assert r["chance_uniform"] == pytest.approx(uniform) and r["chance_majority"] == pytest.approx(majority)
        md = render_markdown(df, DATASET, metric=metric)
        name = {"macro_f1": "macro-F1", "accuracy": "accuracy", "balanced_accuracy": "balanced accuracy"}[metric]
        assert f"| Chance: uniform guess ({name}) | Chance: majority class ({name}) |" in md
        assert table_row(md, "inductive")[3:5] == [f"{uniform:.4f}", f"{majority:.4f}"]
    assert len({row(df, "nuclr", "inductive", metric=m)["chance_majority"] for m in expected}) == 3


def test_figure_has_a_kind_legend_off_the_bars_and_marks_cells_without_a_number(results: Path) -> None:
    from neuronbench.reports.aggregate import method_columns, row_keys
    from neuronbench.reports.figures import bar_figure

    for seed in SEEDS:  # a preset run in one setting only: "not run" elsewhere
        save(results, make_record("nuclr", "transductive", 0, seed, preset="paper", config_hash="eeee11112222"))
    df = aggregate(iter_records(results))
    fig = bar_figure(df, DATASET, "linear", method_columns(df), row_keys(df))
    fig.canvas.draw()
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:3] == ["method", "baseline", "control"]
    assert "chance: uniform guess" in labels and "chance: majority class" in labels
    box = legend.get_window_extent()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        assert not box.overlaps(ax.get_tightbbox(renderer))  # the legend covers no panel
    by_panel = {ax.get_title(): [t.get_text() for t in ax.texts] for ax in fig.axes}
    assert by_panel == {"cell_type, transductive": [], "cell_type, inductive": ["not run", "N/A"]}
    # one dot per encoder seed on every bar with a number, at the seed's score
    from matplotlib.collections import PathCollection

    dots = {ax.get_title(): sorted(round(y, 6) for c in ax.collections if isinstance(c, PathCollection)
                                   for _, y in c.get_offsets()) for ax in fig.axes}
    ok = df[(df["setting"] == "transductive") & (df["probe"] == "linear") & (df["metric"] == "macro_f1")]
    expected = sorted(round(v, 6) for cell in ok["seed_scores"] for _, v in seed_values(cell))
    assert len(expected) == 3 * len(ok) and dots["cell_type, transductive"] == expected


def test_import_is_light() -> None:
    code = ("import sys, neuronbench.reports.build, neuronbench.reports.context; "
            "assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_the_winner_is_bold_its_ties_marked_and_it_is_paired_with_the_runner_up(results: Path) -> None:
    from neuronbench.protocol.metrics import MAIN_METRIC
    from neuronbench.reports.aggregate import NOT_SIGNIFICANT, OTHER, RUNNER_UP

    for seed in SEEDS:  # the same predictions as nuclr under another preset: a tie with the winner
        save(results, make_record("nuclr", "transductive", 0, seed, preset="paper", config_hash="eeee11112222"))
    records = list(iter_records(results))
    df = aggregate(records)
    paired = paired_rows(df, records)
    md = render_markdown(df, DATASET, paired=paired)
    cells = table_row(md, "transductive")
    nuclr = row(df[df["preset"] == "cpu"], "nuclr", "transductive")
    random = row(df, "random", "transductive")
    assert cells[NUCLR] == f"**{nuclr['mean']:.4f} ± {nuclr['std']:.4f}**"
    assert cells[NUCLR + 1] == f"≈ {nuclr['mean']:.4f} ± {nuclr['std']:.4f}"  # not significantly different
    assert cells[NUCLR + 3] == f"{random['mean']:.4f} ± {random['std']:.4f}"  # significantly worse: no mark
    assert cells[NUCLR + 4] == "nuclr (method)"
    assert cells[NUCLR + 5] == f"+0.0000 [+0.0000, +0.0000] vs nuclr [paper] {NOT_SIGNIFICANT}"
    # the winner is paired with every other cell with a number, the runner-up first
    mine = paired[(paired["setting"] == "transductive") & (paired["metric"] == MAIN_METRIC)]
    against = mine[mine["versus"].isin((RUNNER_UP, OTHER))]
    assert set(against["method"]) == {"nuclr"} and set(against["preset"]) == {"cpu"}
    assert list(zip(against["versus"], against["other"], against["other_preset"])) == [
        (RUNNER_UP, "nuclr", "paper"), (OTHER, "neuprint", "cpu"), (OTHER, "random", "cpu")]
    assert bool(mine[mine["other"] == "random"]["significant"].iloc[0])


def test_a_deterministic_cell_shows_no_spread_and_the_note_says_why() -> None:
    import pandas as pd

    from neuronbench.reports.aggregate import deterministic

    base = {"dataset": DATASET, "task": TASK, "n_classes": 3, "setting": "transductive", "kind": "control",
            "preset": "cpu", "config_hash": "x", "probe": "linear", "metric": "macro_f1", "folds": "1/1",
            "status": "ok", "reason": "", "chance_uniform": 0.3, "chance_majority": 0.2}
    df = pd.DataFrame([
        {**base, "method": "features", "mean": 0.5, "std": 0.0, "seed_scores": "0:0.500000 1:0.500000", "n_seeds": 2},
        {**base, "method": "random", "mean": 0.4, "std": 0.0, "seed_scores": "0:0.400000", "n_seeds": 1},
    ])
    assert [deterministic(r) for _, r in df.iterrows()] == [True, False]  # one seed proves nothing
    md = render_markdown(df, DATASET)
    assert table_row(md, "transductive")[NUCLR:NUCLR + 2] == ["**0.5000**", "0.4000 ± 0.0000"]
    assert "A cell without “± std” scored the same on every encoder seed" in md


def test_the_bwb_tuning_seed_is_never_in_a_cell(tmp_path: Path) -> None:
    from neuronbench.protocol import bwb
    from neuronbench.reports.aggregate import build_aggregate

    root = tmp_path / "results"
    for seed in (bwb.SWEEP_SEED, *bwb.EVAL_SEEDS[:2]):
        for fold in range(SETTINGS["inductive"]):
            record = make_record("nuclr", "inductive", fold, seed)
            dataset, task = bwb.TASK
            save(root, replace(record, dataset=replace(record.dataset, name=dataset), task=replace(record.task, name=task)))
    agg = build_aggregate(list(iter_records(root)), root)
    cell = agg.cells[agg.cells["metric"] == "macro_f1"].iloc[0]
    assert [s for s, _ in seed_values(cell["seed_scores"])] == list(bwb.EVAL_SEEDS[:2]) and cell["n_seeds"] == 2
    assert {e.encoder_seed for e in agg.records} == set(bwb.EVAL_SEEDS[:2])
