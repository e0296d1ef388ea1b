"""The Allen loader on session NWB files written with h5py in the DANDI layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("h5py", reason="the Allen loader reads NWB with h5py (pip install 'neuronbench[real]')")

from neuronbench.data import allen  # noqa: E402
from neuronbench.errors import NeuronbenchError  # noqa: E402
from tests.fixtures_real import ALLEN_SESSIONS, OPTO_START, write_allen  # noqa: E402

CUT = OPTO_START - 300.0


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("allen-raw")
    truth = write_allen(root)
    return truth, {r.recording: r for r in allen.load(root)}


def _kept(t: dict) -> np.ndarray:
    """Units of the fixture that pass quality, AllenSDK's filter and sit in a VIS area."""
    vis = np.array([loc.startswith("VIS") for loc in t["locations"][t["peak_row"]]])
    return np.flatnonzero((t["quality"] == "good") & (t["amp_cut"] <= 0.1) & vis)


def test_one_recording_per_probe_of_vis_units(loaded):
    truth, recs = loaded
    expected = set()
    for session, t in truth.items():
        probes = np.unique(t["elec_probe"][t["peak_row"][_kept(t)]])
        expected |= {f"{session}_p{i}" for i in range(len(probes))}
    assert set(recs) == expected
    assert all(r.animal == r.recording.split("_")[0] for r in recs.values())  # one session per mouse


def test_units_spikes_cut_cell_types_and_waveforms_field_by_field(loaded):
    truth, recs = loaded
    n_labelled = 0
    for session, t in truth.items():
        kept = _kept(t)
        probe_of = t["elec_probe"][t["peak_row"]]
        cre = t["genotype"].split("-")[0] if t["genotype"] != "wt/wt" else None
        for i, probe in enumerate(np.unique(probe_of[kept])):
            rec = recs[f"{session}_p{i}"]
            units = kept[probe_of[kept] == probe]
            assert rec.neurons["unit"].tolist() == [str(u) for u in t["unit_ids"][units]]
            for j, u in enumerate(units):  # sorted, and cut 300 s before optotagging
                np.testing.assert_array_equal(rec.unit_spikes(j), np.sort(t["trains"][u][t["trains"][u] < CUT]))
            assert rec.t_stop == CUT and rec.t_start == 0.0
            types = [None if pd.isna(x) else x for x in rec.labels["cell_type"]]
            assert types == [cre if t["tagged"][u] else None for u in units]
            n_labelled += sum(x is not None for x in types)
            assert rec.labels["area"].tolist() == list(t["locations"][t["peak_row"][units]])
            np.testing.assert_array_equal(
                rec.waveforms, np.array([t["wf_rows"][u][t["best"][u]] for u in units], dtype=np.float32)
            )
    assert n_labelled >= 12


def test_stimulus_epochs_are_runs_of_presentations_clipped_at_the_cut(loaded):
    _, recs = loaded
    e = recs["715093703_p0"].epochs
    assert e["stimulus"].tolist() == ["spontaneous", "drifting_gratings", "natural_scenes", "spontaneous"]
    np.testing.assert_allclose(e[["start", "stop"]].to_numpy(), [[0, 59.99], [60, 159.99], [160, 259.99], [260, CUT]])


def test_the_opto_rule_on_hand_made_trains():
    onsets = np.arange(10.0, 60.0, 1.0)
    evoked = np.sort(np.r_[onsets + 0.004, np.arange(0.5, 70, 0.25)])  # 1 spike / pulse at +4 ms + 4 Hz
    silent = np.arange(0.5, 70, 0.25)  # 4 Hz, never at +1..9 ms
    before = np.sort(np.r_[onsets - 0.005, onsets + 0.004])  # as many spikes before as after: ratio 125 / 126
    assert allen.cre_positive([evoked, silent, before], onsets).tolist() == [True, False, False]


def test_malformed_files_name_the_file(tmp_path):
    import h5py

    truth = write_allen(tmp_path, n_units=6)
    path = truth["719161530"]["path"]
    with h5py.File(path, "a") as f:
        f["units/peak_channel_id"][0] = 123
    with pytest.raises(
        NeuronbenchError, match=r"ses-719161530\.nwb: field 'units/peak_channel_id': channel id\(s\) \[123\]"
    ):
        allen.load(tmp_path)
    with h5py.File(path, "a") as f:
        del f["units/spike_times_index"]
    with pytest.raises(NeuronbenchError, match=r"ses-719161530\.nwb: field 'units/spike_times_index': missing"):
        allen.load(tmp_path)
    path.write_bytes(b"not HDF5")
    with pytest.raises(NeuronbenchError, match=r"ses-719161530\.nwb: not a readable NWB"):
        allen.load(tmp_path)


def test_a_session_without_optotagging_is_an_error(tmp_path, monkeypatch, capsys):
    import h5py

    from neuronbench import cli

    truth = write_allen(tmp_path / "raw", n_units=6)
    path = truth["719161530"]["path"]
    with h5py.File(path, "a") as f:
        del f["processing/optotagging"]
    with pytest.raises(NeuronbenchError, match=r"ses-719161530\.nwb: field 'processing/optotagging/"
                                               r"optogenetic_stimulation/start_time': missing"):
        allen.load(tmp_path / "raw")
    monkeypatch.setenv("NEURONBENCH_DATA", str(tmp_path / "data"))
    assert cli.main(["data", "prepare", "allen", "--raw", str(tmp_path / "raw")]) == 2
    assert "optogenetic_stimulation/start_time': missing" in capsys.readouterr().err
    assert not (tmp_path / "data" / "allen").exists()


def test_the_session_id_falls_back_to_the_root_identifier_dataset(tmp_path):
    import h5py

    truth = write_allen(tmp_path, n_units=6)
    path = truth["719161530"]["path"]
    with h5py.File(path, "a") as f:
        del f["general/session_id"]
    recs = allen.load_session(path)
    assert recs and {r.animal for r in recs} == {"719161530"}  # not the file name
    assert recs[0].recording.startswith("719161530_p")


def test_sessions_are_the_labelled_ones_of_the_published_protocol():
    from neuronbench.protocol.datasets import get_dataset_info

    evaluated = get_dataset_info("allen").published.eval_animals
    assert len(evaluated) == 16 and set(list(ALLEN_SESSIONS)[:6]) <= set(evaluated)
