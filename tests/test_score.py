"""Scoring precomputed embeddings, on real IBL neurons (../shared/data/ibl_rrr)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuronbench.cli import main
from neuronbench.score import folds_for, score_file

IBL_RRR = Path(__file__).resolve().parents[2] / "shared" / "data" / "ibl_rrr" / "ibl_rrr.parquet"
needs_ibl = pytest.mark.skipif(not IBL_RRR.is_file(), reason=f"{IBL_RRR} not present")


@needs_ibl
@pytest.mark.parametrize("split_by", ["neuron", "eid", "lab"])
def test_real_ibl_embeddings_decode_region_above_chance(split_by):
    out = score_file(IBL_RRR, "acronym", split_by=split_by, prefix="coef_")
    assert out["n_neurons"] == 3860 and out["n_dims"] == 32
    assert out["classes"] == ["CA1", "DG", "LP", "PO", "VISa_am"]
    f1 = out["probes"]["linear"]["macro_f1"]
    # a modest, real signal (the data's README: ~0.29 on a random split; chance ~0.18)
    assert out["chance"]["uniform_macro_f1"] + 0.04 < f1 < 0.45


@needs_ibl
def test_group_folds_never_put_a_session_on_both_sides():
    meta = pd.read_parquet(IBL_RRR, columns=["eid", "acronym"])
    meta.index = [f"row/{i}" for i in range(len(meta))]
    seen_test = set()
    for train, val, test in folds_for(meta, "acronym", "eid"):
        test_sessions = set(meta.loc[test, "eid"])
        assert not test_sessions & set(meta.loc[train + val, "eid"])
        assert not seen_test & set(test)
        seen_test |= set(test)
    assert len(seen_test) == len(meta)  # every neuron is tested exactly once


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
