"""Scoring precomputed embeddings: group folds on generated sessions and on real IBL
neurons (the shipped `docs/data/ibl_rrr/ibl_rrr.parquet`)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuronbench.cli import main
from neuronbench.protocol.settings import GROUP_FOLDS, held_out_labs
from neuronbench.score import folds_for, score_file

IBL_RRR = Path(__file__).resolve().parents[1] / "docs" / "data" / "ibl_rrr" / "ibl_rrr.parquet"


@pytest.mark.parametrize("split_by", ["neuron", "eid", "lab"])
def test_real_ibl_embeddings_decode_region_above_chance(split_by):
    out = score_file(IBL_RRR, "acronym", split_by=split_by, prefix="coef_")
    assert out["n_neurons"] == 3860 and out["n_dims"] == 32
    assert out["classes"] == ["CA1", "DG", "LP", "PO", "VISa_am"]
    f1 = out["probes"]["linear"]["macro_f1"]
    # a modest, real signal (the data's README: ~0.29 on a random split; chance ~0.18)
    assert out["chance"]["uniform_macro_f1"] + 0.04 < f1 < 0.45


def test_malformed_embedding_files_give_clear_errors(tmp_path, capsys):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    assert main(["score", str(bad), "--label", "y"]) == 2
    assert "bad.parquet: not a readable Parquet file" in capsys.readouterr().err
    nan = tmp_path / "nan.parquet"
    pd.DataFrame({"neuron_id": ["a", "b"], "y": ["p", "q"], "e0": [1.0, np.nan]}).to_parquet(nan)
    assert main(["score", str(nan), "--label", "y"]) == 2
    assert "nan.parquet: NaN or infinite values for 1 neuron(s), e.g. ['b']" in capsys.readouterr().err
    nolabel = tmp_path / "nolabel.parquet"
    pd.DataFrame({"neuron_id": ["a", "b"], "e0": [1.0, 2.0]}).to_parquet(nolabel)
    assert main(["score", str(nolabel), "--label", "y"]) == 2
    assert "no label column 'y'" in capsys.readouterr().err


def generated_meta(seed: int) -> pd.DataFrame:
    """Neurons of 23 sessions in 7 labs (3 or 4 sessions each), 5 to 60 neurons per
    session, 4 regions: the shape of IBL's table, made up."""
    rng = np.random.default_rng(seed)
    rows = [(f"eid{s}", f"lab{s % 7}", str(rng.choice(["CA1", "DG", "LP", "PO"])))
            for s in range(23) for _ in range(rng.integers(5, 61))]
    meta = pd.DataFrame(rows, columns=["eid", "lab", "acronym"])
    meta.index = [f"row/{i}" for i in range(len(meta))]
    return meta


def ibl_meta(seed: int) -> pd.DataFrame:
    meta = pd.read_parquet(IBL_RRR, columns=["eid", "lab", "acronym"])
    meta.index = [f"row/{i}" for i in range(len(meta))]
    return meta


@pytest.mark.parametrize("make_meta", [generated_meta, ibl_meta], ids=["generated", "ibl"])
@pytest.mark.parametrize("split_by", ["eid", "lab"])
@pytest.mark.parametrize("seed", [0, 1])
def test_group_folds_hold_each_group_out_once_and_never_on_both_sides(make_meta, split_by, seed):
    meta = make_meta(seed)
    folds = folds_for(meta, "acronym", split_by, seed=seed)
    assert len(folds) == min(GROUP_FOLDS, meta[split_by].nunique())
    seen_test = set()
    for train, val, test in folds:
        assert test and train  # never an empty fold
        test_groups = set(meta.loc[test, split_by])
        assert not test_groups & set(meta.loc[train + val, split_by])  # a group is never on both sides
        assert not set(meta.loc[val, split_by]) & set(meta.loc[train, split_by])  # validation: whole groups
        assert not seen_test & set(test)
        seen_test |= set(test)
    assert len(seen_test) == len(meta)  # every neuron is tested exactly once


def test_fewer_groups_than_folds_make_one_fold_per_group():
    meta = pd.DataFrame({"lab": ["x", "y", "z"] * 4, "y": ["a", "b"] * 6}, index=[f"n{i}" for i in range(12)])
    folds = folds_for(meta, "y", "lab")
    assert sorted(tuple(sorted(set(meta.loc[test, "lab"]))) for _, _, test in folds) == [("x",), ("y",), ("z",)]


def _numeric_label_file(path, n, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    frame = pd.DataFrame({"neuron_id": [f"n{i}" for i in range(n)], "cls": y, "session": np.arange(n) // 2 % 4,
                          "e0": y + rng.normal(0, 0.3, n), "e1": rng.normal(size=n)})
    frame.to_parquet(path)
    return path


def test_a_numeric_label_and_group_column_are_not_embedding_dimensions(tmp_path, capsys):
    f = _numeric_label_file(tmp_path / "emb.parquet", 200)
    out = score_file(f, "cls", split_by="session")
    assert out["n_dims"] == 2 and out["classes"] == ["0", "1"]
    assert main(["score", str(f), "--label", "cls", "--split-by", "session"]) == 0
    assert "200 neurons x 2 dims, 2 classes" in capsys.readouterr().out


def test_tiny_test_sets_are_warned_about_on_stderr(tmp_path, capsys):
    f = _numeric_label_file(tmp_path / "tiny.parquet", 12)
    assert main(["score", str(f), "--label", "cls"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "tiny.parquet: fold 0 tests 2 neuron(s), fewer than 10 of class(es) {'0': 1, '1': 1}" in err
    big = _numeric_label_file(tmp_path / "big.parquet", 400)
    assert main(["score", str(big), "--label", "cls"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_fold_that_trains_on_one_class_is_a_clear_error(tmp_path, capsys):
    f = tmp_path / "confounded.parquet"
    y = np.arange(40) % 2
    pd.DataFrame({"y": y, "session": y, "e0": np.arange(40.0)}).to_parquet(f)  # one class per session
    assert main(["score", str(f), "--label", "y", "--split-by", "session"]) == 2
    assert "confounded.parquet: --split-by 'session': fold 0 trains on class(es)" in capsys.readouterr().err


def test_a_missing_label_lists_the_files_real_columns(tmp_path, capsys):
    f = _numeric_label_file(tmp_path / "emb.parquet", 20)
    assert main(["score", str(f), "--label", "region"]) == 2
    err = capsys.readouterr().err
    assert "emb.parquet: no label column 'region'; the file's columns: cls, session, e0, e1" in err
    assert "[]" not in err


def _text_embedding_file(path, n=60, as_lists=False):
    """An embedding stored as text (or as one column of lists) next to a numeric depth."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(n, 3))
    frame = pd.DataFrame({"neuron_id": [f"n{i}" for i in range(n)], "region": ["a", "b"] * (n // 2),
                          "depth": rng.uniform(0, 3000, n)})
    if as_lists:
        frame["emb"] = [list(v) for v in values]
    else:
        for k in range(3):
            frame[f"e{k}"] = [f"{v:.6f}" for v in values[:, k]]
    frame.to_parquet(path)
    return path


@pytest.mark.parametrize("as_lists, column, kind", [(False, "e0", "numbers as text"), (True, "emb", "sequences")])
def test_numbers_stored_as_text_are_refused_not_left_out(tmp_path, capsys, as_lists, column, kind):
    f = _text_embedding_file(tmp_path / "text.parquet", as_lists=as_lists)
    dtype = pd.read_parquet(f)[column].dtype  # object or str, as pandas reads it
    assert main(["score", str(f), "--label", "region"]) == 2
    err = capsys.readouterr().err
    assert f"text.parquet: column(s) {column} [{dtype} ({kind})]" in err
    assert "(which would be depth)" in err and "--prefix" in err
    # naming the embedding columns is the way to use only some of them
    assert main(["score", str(f), "--label", "region", "--prefix", "depth"]) == 0
    assert "embedding columns: depth" in capsys.readouterr().out


def test_the_embedding_columns_used_are_reported(tmp_path, capsys):
    f = _numeric_label_file(tmp_path / "emb.parquet", 200)
    assert main(["score", str(f), "--label", "cls", "--split-by", "session"]) == 0
    assert "embedding columns: e0, e1\n" in capsys.readouterr().out


CROSS_LAB = "inductive-cross-lab"


def _lab_file(path, n=240, seed=0):
    """Neurons of 12 animals in 6 labs (numbered, so numeric), two classes, two dims."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    animal = np.arange(n) // 2 % 12
    pd.DataFrame({"neuron_id": [f"n{i}" for i in range(n)], "cls": y, "lab": animal // 2, "animal": animal,
                  "e0": y + rng.normal(0, 0.5, n), "e1": rng.normal(size=n)}).to_parquet(path)
    return path


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_lab_rule_never_trains_on_a_held_out_lab(tmp_path, seed):
    meta = pd.read_parquet(_lab_file(tmp_path / "labs.parquet")).set_index("neuron_id")
    ((train, val, test),) = folds_for(meta, "cls", CROSS_LAB, seed=seed, lab_column="lab", animal_column="animal")
    held = set(held_out_labs(meta["lab"].astype(str), seed))
    assert len(held) == 2  # a third of 6 labs
    assert set(meta.loc[test, "lab"].astype(str)) == held
    assert not set(meta.loc[train + val, "lab"].astype(str)) & held
    assert sorted(train + val + test) == sorted(meta.index) and val and train


def test_cross_lab_scoring_leaves_the_lab_and_animal_columns_out_and_says_the_held_out_labs(tmp_path, capsys):
    f = _lab_file(tmp_path / "labs.parquet")
    out = score_file(f, "cls", split_by=CROSS_LAB, lab_column="lab", animal_column="animal")
    assert out["embedding_columns"] == ["e0", "e1"] and out["folds"] == 1
    assert out["test_labs"] == sorted(held_out_labs([str(i) for i in range(6)]))
    assert main(["score", str(f), "--label", "cls", "--split-by", CROSS_LAB, "--lab-column", "lab"]) == 0
    assert f"held-out labs (tested; never trained on): {', '.join(out['test_labs'])}" in capsys.readouterr().out


def test_cross_lab_scoring_refuses_what_it_cannot_split(tmp_path, capsys):
    f = _lab_file(tmp_path / "labs.parquet")
    assert main(["score", str(f), "--label", "cls", "--split-by", CROSS_LAB]) == 2
    assert "name the column of each neuron's lab with --lab-column" in capsys.readouterr().err
    assert main(["score", str(f), "--label", "cls", "--lab-column", "lab"]) == 2
    assert "--lab-column and --animal-column go with --split-by inductive-cross-lab" in capsys.readouterr().err
    frame = pd.read_parquet(f)
    frame.loc[0, "lab"] = 5  # animal 0 (lab 0) now also has a neuron in lab 5
    frame.to_parquet(mixed := tmp_path / "mixed.parquet")
    assert main(["score", str(mixed), "--label", "cls", "--split-by", CROSS_LAB, "--lab-column", "lab",
                 "--animal-column", "animal"]) == 2
    err = capsys.readouterr().err
    assert "field 'animal': animal '0' has neurons in 2 labs (0, 5); a cross-lab split needs each animal in " \
           "exactly one lab" in err and "Traceback" not in err
    frame["lab"] = 3
    frame.to_parquet(one := tmp_path / "one.parquet")
    assert main(["score", str(one), "--label", "cls", "--split-by", CROSS_LAB, "--lab-column", "lab"]) == 2
    assert "field 'lab': a cross-lab split needs 2+ labs, got 1 (3)" in capsys.readouterr().err


def test_real_ibl_region_decoding_across_labs():
    """Tolossa et al. 2025's question on real labels: trained on 7 of the 10 labs, tested on
    the other 3."""
    out = score_file(IBL_RRR, "acronym", split_by=CROSS_LAB, lab_column="lab", animal_column="eid", prefix="coef_")
    labs = pd.read_parquet(IBL_RRR, columns=["lab"])["lab"]
    assert out["test_labs"] == list(held_out_labs(labs)) and len(out["test_labs"]) == 3
    assert out["chance"]["uniform_macro_f1"] + 0.04 < out["probes"]["linear"]["macro_f1"] < 0.45
