"""The IBL loader on a ONE cache laid out like the public release (ALF per probe)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuronbench.data import ibl
from neuronbench.errors import NeuronbenchError
from tests.fixtures_real import IBL_ATLAS, write_ibl

pytest.importorskip("one.alf.io", reason="the IBL loader reads ALF with ONE-api (pip install 'neuronbench[real]')")
pytest.importorskip("iblatlas", reason="the IBL loader maps atlas ids with iblatlas (pip install 'neuronbench[real]')")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("ibl-raw")
    truth = write_ibl(root)
    return truth, {r.recording: r for r in ibl.load(root)}


def test_one_recording_per_probe_insertion(loaded):
    truth, recs = loaded
    assert sorted(recs) == sorted(truth)
    assert "KS023_2019-12-10_001_probe01" in recs
    for rid, t in truth.items():
        assert recs[rid].animal == t["animal"]


def test_qc_filter_spikes_and_cosmos_regions_field_by_field(loaded):
    truth, recs = loaded
    seen = set()
    for rid, t in truth.items():
        rec = recs[rid]
        kept = np.flatnonzero(t["label"] == 1.0)  # all three QC metrics passed
        assert rec.neurons["unit"].tolist() == [str(c) for c in kept]
        np.testing.assert_array_equal(rec.spike_counts(), [len(t["trains"][c]) for c in kept])
        for i, c in enumerate(kept):
            np.testing.assert_array_equal(rec.unit_spikes(i), t["trains"][c])
        atlas_ids = t["chan_ids"][t["cl_chan"][kept]]
        assert rec.labels["acronym"].tolist() == [IBL_ATLAS[a][0] for a in atlas_ids]
        regions = [None if pd.isna(x) else x for x in rec.labels["region"]]
        assert regions == [IBL_ATLAS[a][1] for a in atlas_ids]  # void and root are no class
        seen.update(r for r in regions if r)
        assert rec.waveforms is None and rec.neurons[["x", "y", "z"]].isna().all().all()
        assert (rec.t_start, rec.t_stop) == (0.0, t["t_stop"])
        assert rec.epochs.to_dict("list") == {"start": [5.0], "stop": [64.5], "stimulus": ["task"]}
    assert len(seen) >= 8  # the fixture spans most Cosmos regions


def test_malformed_probes_name_the_file(tmp_path):
    truth = write_ibl(tmp_path, n_clusters=6)
    folder = truth["CSHL049_2020-01-08_001_probe00"]["folder"]
    metrics = pd.read_parquet(folder / "clusters.metrics.pqt")
    metrics.drop(columns="label").to_parquet(folder / "clusters.metrics.pqt")
    with pytest.raises(NeuronbenchError, match=r"probe00/pykilosort/clusters\.metrics\.pqt: field 'label'"):
        ibl.load(tmp_path)
    metrics.to_parquet(folder / "clusters.metrics.pqt")
    np.save(folder / "channels.brainLocationIds_ccf_2017.npy", np.full(28, 123456789))
    with pytest.raises(NeuronbenchError, match=r"channels\.brainLocationIds_ccf_2017\.npy: field 'ids'.*123456789"):
        ibl.load(tmp_path)
    (folder / "channels.brainLocationIds_ccf_2017.npy").unlink()
    with pytest.raises(
        NeuronbenchError, match=r"CSHL049/2020-01-08/001/alf/probe00/pykilosort: missing channels\.brainLocationIds"
    ):
        ibl.load(tmp_path)
    (folder / "spikes.clusters.npy").unlink()
    with pytest.raises(NeuronbenchError, match=r"probe00/pykilosort: .*spikes"):
        ibl.load(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(NeuronbenchError, match="empty: no alf/probeXX/pykilosort/ folder"):
        ibl.load(tmp_path / "empty")


def test_a_probe_with_no_spikes_or_no_clusters_is_a_clear_error(tmp_path):
    truth = write_ibl(tmp_path, n_clusters=6)
    folder = truth["CSHL049_2020-01-08_001_probe00"]["folder"]
    metrics = pd.read_parquet(folder / "clusters.metrics.pqt")
    metrics.iloc[:0].to_parquet(folder / "clusters.metrics.pqt")
    np.save(folder / "clusters.channels.npy", np.zeros(0, dtype=np.int64))
    with pytest.raises(NeuronbenchError, match=r"probe00/pykilosort/clusters\.metrics\.pqt: field 'rows': expected one"):
        ibl.load(tmp_path)
    metrics.to_parquet(folder / "clusters.metrics.pqt")
    for name in ("spikes.times.npy", "spikes.clusters.npy"):
        np.save(folder / name, np.zeros(0))
    with pytest.raises(NeuronbenchError, match=r"probe00/pykilosort/spikes\.times\.npy: field 'times': expected the"):
        ibl.load(tmp_path)
