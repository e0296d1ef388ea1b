"""The IBL loader on a ONE cache laid out like the public release (ALF per probe)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuronbench.data import ibl
from neuronbench.data.prepare import prepare
from neuronbench.errors import NeuronbenchError
from tests.fixtures_real import IBL_ATLAS, IBL_PROBES, write_ibl

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


# ---------------------------------------------------------------- BrainWideBench TS3 option


def test_bwb_fields_are_kept_from_the_one_cache_and_hidden_from_methods(loaded):
    truth, recs = loaded
    lab_of = {f"{s}_{d}_{n}_{p}": lab for lab, s, d, n, p in IBL_PROBES}
    for rid, t in truth.items():
        rec = recs[rid]
        kept = np.flatnonzero(t["label"] == 1.0)
        assert rec.labels["uuid"].tolist() == [t["uuids"][c] for c in kept]
        np.testing.assert_array_equal(rec.labels["depth"].to_numpy(float), t["depths"][kept])
        assert set(rec.labels["session"]) == {t["session"]}
        # what BWB's unit filter reads (the protocol applies it: `neuronbench.protocol.bwb.unit_filter`)
        np.testing.assert_array_equal(rec.labels["firing_rate"].to_numpy(float), t["firing_rate"][kept])
        assert rec.labels["unit_qc"].tolist() == [1.0] * len(kept)
        assert set(rec.labels["lab"]) == {lab_of[rid]}  # the field the info's ``labs`` names
        assert "depth" not in rec.without_labels().neurons.columns


def test_without_the_sessions_table_the_session_is_unknown(tmp_path):
    write_ibl(tmp_path, n_clusters=6, sessions_table=False)
    assert all(r.labels["session"].isna().all() for r in ibl.load(tmp_path))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from neuronbench.data.store import Dataset

    raw = tmp_path_factory.mktemp("ibl-raw-bwb")
    truth = write_ibl(raw)
    out = tmp_path_factory.mktemp("ibl-prepared") / "ibl"
    prepare(ibl, raw, out)
    return truth, Dataset(out)


@pytest.mark.parametrize("setting", ["inductive", "transductive-zero-shot"])
def test_region_bwb_tests_on_the_bwb_eval_sessions_with_its_unit_filter(prepared, setting):
    from neuronbench.protocol import bwb
    from neuronbench.protocol.settings import make_split
    from neuronbench.protocol.datasets import get_task

    truth, ds = prepared
    task = get_task("ibl", "region_bwb")
    assert task.classes == bwb.COSMOS_LABELS == ("CB", "CNU", "CTXsp", "HB", "HPF", "HY", "Isocortex", "MB", "OLF", "TH")
    split = make_split(ds, task, setting)
    (fold,) = split.folds

    def units(rids):  # the neuron ids BWB keeps: QC label 1, > 1 Hz, a Cosmos class
        out = set()
        for rid in rids:
            t = truth[rid]
            for c in np.flatnonzero((t["label"] == 1.0) & (t["firing_rate"] > 1.0)):
                if IBL_ATLAS[t["chan_ids"][t["cl_chan"][c]]][1] is not None:
                    out.add(f"ibl/{rid}/{c}")
        return out

    evaluated = [rid for rid, t in truth.items() if t["session"] in bwb.eval_sessions()]
    assert sorted(evaluated) == ["KS023_2019-12-10_001_probe00", "KS023_2019-12-10_001_probe01",
                                 "NYU-11_2020-02-20_001_probe00"]
    assert set(fold.test) == units(evaluated)
    assert fold.test_animals == ("KS023", "NYU-11")
    others = [rid for rid, t in truth.items() if t["animal"] not in fold.test_animals]
    assert set(fold.train) | set(fold.val) == units(others)  # KS023's other session: neither side
    pretrain = set(truth) if setting == "transductive-zero-shot" else set(others)
    assert set(fold.pretrain) == pretrain


def test_region_bwb_needs_the_session_ids(tmp_path):
    from neuronbench.data.store import Dataset
    from neuronbench.protocol.settings import make_split
    from neuronbench.protocol.datasets import get_task

    write_ibl(tmp_path / "raw", n_clusters=12, sessions_table=False)
    prepare(ibl, tmp_path / "raw", tmp_path / "ibl")
    with pytest.raises(NeuronbenchError, match=r"labels\.parquet: field 'session': no labelled neuron of task "
                                               r"ibl/region_bwb is in one of its 29 held-out sessions"):
        make_split(Dataset(tmp_path / "ibl"), get_task("ibl", "region_bwb"), "inductive")


def test_cross_lab_holds_whole_ibl_labs_out_of_pretraining_and_probe_training(prepared):
    from neuronbench.protocol.datasets import get_task
    from neuronbench.protocol.settings import held_out_labs, make_split

    _, ds = prepared
    lab_of = dict(zip(ds.neurons["animal"].astype(str), ds.labels["lab"]))  # the loader's lab column
    assert len(set(lab_of.values())) == 4
    (fold,) = make_split(ds, get_task("ibl", "region"), "inductive-cross-lab").folds
    held = set(held_out_labs(list(lab_of.values())))
    assert len(held) == 1 and {lab_of[a] for a in fold.test_animals} == held
    animal = dict(zip(ds.neurons["neuron_id"], ds.neurons["animal"].astype(str)))
    rec_animal = dict(zip(ds.recordings["recording"], ds.recordings["animal"].astype(str)))
    assert {lab_of[animal[n]] for n in fold.test} == held
    assert not {lab_of[animal[n]] for n in fold.train + fold.val} & held
    assert not {lab_of[rec_animal[r]] for r in fold.pretrain} & held
