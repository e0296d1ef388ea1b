"""The Steinmetz loader on ALF session folders laid out like the figshare release."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuronbench.data import steinmetz
from neuronbench.errors import NeuronbenchError
from tests.fixtures_real import write_steinmetz

# NuCLR's four groups, written out independently of the loader
GROUPS = {
    "MRN": "MB",
    "SCm": "MB",
    "SCs": "MB",
    "APN": "MB",
    "PAG": "MB",
    "VISp": "VIS",
    "VISrl": "VIS",
    "VISam": "VIS",
    "VISpm": "VIS",
    "VISl": "VIS",
    "VISa": "VIS",
    "LP": "TH",
    "LD": "TH",
    "RT": "TH",
    "MD": "TH",
    "MG": "TH",
    "LGd": "TH",
    "VPM": "TH",
    "VPL": "TH",
    "PO": "TH",
    "POL": "TH",
    "POST": "HPF",
    "SUB": "HPF",
    "DG": "HPF",
    "CA1": "HPF",
    "CA3": "HPF",
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("steinmetz-raw")
    truth = write_steinmetz(root)
    return truth, {r.recording: r for r in steinmetz.load(root)}


def test_one_recording_per_probe_named_like_nuclr(loaded):
    truth, recs = loaded
    assert sorted(recs) == sorted(
        f"{s.split('_')[0].lower()}_{s.split('_')[1].replace('-', '')}_p{p}" for s in truth for p in (0, 1)
    )
    assert recs["cori_20161214_p1"].animal == "Cori" and recs["hench_20170615_p0"].animal == "Hench"


def test_units_spikes_regions_and_waveforms_field_by_field(loaded):
    truth, recs = loaded
    for session, t in truth.items():
        mouse, date = session.split("_")
        for probe in (0, 1):
            rec = recs[f"{mouse.lower()}_{date.replace('-', '')}_p{probe}"]
            kept = np.flatnonzero((t["annotation"] >= 2) & (t["probes"] == probe))  # phy good/MUA only
            assert rec.neurons["unit"].tolist() == [str(c) for c in kept]
            assert rec.n_units < int((t["probes"] == probe).sum())  # some noise / unsorted dropped
            np.testing.assert_array_equal(rec.spike_counts(), [len(t["trains"][c]) for c in kept])
            for i, c in enumerate(kept):
                np.testing.assert_array_equal(rec.unit_spikes(i), t["trains"][c])
            acronyms = [t["acronyms"][t["peak0"][c]] for c in kept]  # 1-based peak channel -> row - 1
            assert rec.labels["acronym"].tolist() == acronyms
            assert [None if pd.isna(x) else x for x in rec.labels["region"]] == [GROUPS.get(a) for a in acronyms]
            np.testing.assert_array_equal(rec.waveforms, t["templates"][kept, :, t["best"][kept]])
            assert rec.waveform_rate == 30000.0
            assert rec.neurons[["x", "y", "z"]].isna().all().all()  # CCF coordinates would give the label away
            assert (rec.t_start, rec.t_stop) == (0.0, t["t_stop"])


def test_an_off_by_one_peak_channel_would_change_regions(loaded):
    truth, recs = loaded
    t = truth["Cori_2016-12-14"]
    kept = np.flatnonzero((t["annotation"] >= 2) & (t["probes"] == 0))
    wrong = [t["acronyms"][t["peak0"][c] + 1] for c in kept]
    assert recs["cori_20161214_p0"].labels["acronym"].tolist() != wrong


def test_epochs(loaded):
    _, recs = loaded
    e = recs["moniz_20170515_p0"].epochs
    assert e["stimulus"].tolist() == ["spontaneous", "task", "spontaneous", "passive"]
    np.testing.assert_allclose(e[["start", "stop"]].to_numpy(), [[0, 9], [10, 68], [75, 85], [90, 115]])


def test_malformed_folders_name_the_file(tmp_path):
    truth = write_steinmetz(tmp_path, n_clusters=6)
    folder = truth["Cori_2016-12-14"]["folder"]
    np.save(folder / "clusters.peakChannel.npy", np.zeros((6, 1)))  # 0-based by mistake
    with pytest.raises(
        NeuronbenchError, match=r"Cori_2016-12-14/clusters\.peakChannel\.npy: field 'peakChannel': expected 1-based"
    ):
        steinmetz.load(tmp_path)
    np.save(folder / "clusters.peakChannel.npy", np.full((6, 1), 1.0))  # channel 1 is on probe 0 only
    with pytest.raises(NeuronbenchError, match="peak on a channel of another probe"):
        steinmetz.load(tmp_path)
    (folder / "channels.brainLocation.tsv").unlink()
    with pytest.raises(NeuronbenchError, match=r"Cori_2016-12-14/channels\.brainLocation\.tsv: missing"):
        steinmetz.load(tmp_path)
    pd.DataFrame({"ccf_ap": [1.0], "region": ["VISp"]}).to_csv(
        folder / "channels.brainLocation.tsv", sep="\t", index=False
    )
    with pytest.raises(NeuronbenchError, match=r"channels\.brainLocation\.tsv: missing columns \['ccf_dv'"):
        steinmetz.load(tmp_path)
    np.save(folder / "spikes.clusters.npy", np.zeros((3, 1)))
    with pytest.raises(NeuronbenchError, match=r"spikes\.clusters\.npy: field 'rows \(one per spike\)'"):
        steinmetz.load(tmp_path)
    with pytest.raises(NeuronbenchError, match=r"no session folder <Mouse>_<YYYY-MM-DD>/"):
        steinmetz.load(tmp_path / "allData" / "Cori_2016-12-14")


@pytest.mark.parametrize("what", ["spikes", "clusters"])
def test_a_session_with_no_spikes_or_clusters_is_a_clear_error(tmp_path, monkeypatch, capsys, what):
    from neuronbench import cli

    truth = write_steinmetz(tmp_path / "raw", n_clusters=6)
    folder = truth["Cori_2016-12-14"]["folder"]
    if what == "spikes":
        for f in ("spikes.times.npy", "spikes.clusters.npy"):
            np.save(folder / f, np.zeros((0, 1)))
        expected = r"Cori_2016-12-14/spikes\.times\.npy: field 'times': expected the session's spikes, got none"
    else:
        for f in ("clusters.probes.npy", "clusters.peakChannel.npy", "clusters._phy_annotation.npy"):
            np.save(folder / f, np.zeros((0, 1)))
        np.save(folder / "spikes.clusters.npy", np.zeros((len(np.load(folder / "spikes.times.npy")), 1)))
        expected = r"Cori_2016-12-14/clusters\.probes\.npy: field 'rows': expected one probe per cluster"
    with pytest.raises(NeuronbenchError, match=expected):
        steinmetz.load(tmp_path / "raw")
    monkeypatch.setenv("NEURONBENCH_DATA", str(tmp_path / "data"))
    assert cli.main(["data", "prepare", "steinmetz", "--raw", str(tmp_path / "raw")]) == 2
    assert "Cori_2016-12-14" in capsys.readouterr().err
    assert not (tmp_path / "data" / "steinmetz").exists()
