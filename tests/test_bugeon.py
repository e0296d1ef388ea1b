"""The Bugeon loader on a folder laid out like the figshare release (tests/fixtures_real.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuronbench.data import bugeon
from neuronbench.errors import NeuronbenchError
from tests.fixtures_real import BUGEON_BLOCKS, write_bugeon

# t-type -> (cell_class, subclass), as NuCLR defines them
EXPECTED_LABELS = {
    "EC": ("EC", "unknown"),
    "IN": ("IN", "unknown"),
    "Lamp5-Lsp1": ("IN", "Lamp5"),
    "Pvalb-Tpbg": ("IN", "Pvalb"),
    "Sncg-Calb1": ("IN", "Sncg"),
    "Sst-Nmbr": ("IN", "Sst"),
    "Vip-Sncg": ("IN", "Vip"),
    "Serpinf1-Aqp5": ("IN", "Serpinf1"),
}
STIMULUS = {"Blank": "spontaneous", "Drifting Gratings": "drifting_gratings", "Natural Scenes": "natural_scenes"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("bugeon-raw")
    truth = write_bugeon(root)
    report: list[str] = []
    recs = bugeon.load(root, report)
    return truth, {r.recording: r for r in recs}, report, root


def test_one_recording_per_session_with_the_session_ids(loaded):
    truth, recs, _, _ = loaded
    assert (
        sorted(recs)
        == sorted(truth)
        == [
            "sb025_20191004",
            "sb025_20191007",
            "sb026_20191011",
            "sb026_20191014",
            "sb028_20191106",
            "sb028_20191107",
            "sb030_20200108",
            "sb030_20200110",
        ]
    )
    for rid, rec in recs.items():
        assert rec.animal == truth[rid]["animal"] and rec.modality == "calcium" and rec.dataset == "bugeon"


def test_neurons_tracks_positions_and_labels_field_by_field(loaded):
    truth, recs, _, _ = loaded
    for rid, t in truth.items():
        rec = recs[rid]
        n = len(t["ttypes"])
        assert rec.neurons["unit"].tolist() == [str(i) for i in range(n)]
        assert rec.neurons["neuron_id"].tolist() == [f"bugeon/{rid}/{i}" for i in range(n)]
        expected_tracks = [None if np.isnan(u) else str(int(u)) for u in t["uid"]]
        assert [None if pd.isna(x) else x for x in rec.neurons["track_id"]] == expected_tracks
        assert sum(x is None for x in expected_tracks) == n // 3  # the NaN UniqueIDs stay untracked
        np.testing.assert_allclose(rec.neurons[["x", "y"]].to_numpy(), t["pos"])
        np.testing.assert_allclose(rec.neurons["z"].to_numpy(), t["depth"])
        assert rec.labels["ttype"].tolist() == t["ttypes"]
        assert rec.labels["cell_class"].tolist() == [EXPECTED_LABELS[x][0] for x in t["ttypes"]]
        assert rec.labels["subclass"].tolist() == [EXPECTED_LABELS[x][1] for x in t["ttypes"]]


def test_traces_are_the_matching_blocks_in_time_order_with_nan_gaps_filled(loaded):
    truth, recs, _, _ = loaded
    for rid, t in truth.items():
        rec = recs[rid]
        expected = np.concatenate([b["traces"] for b in t["blocks"]]).astype(np.float32)
        assert rec.traces.shape == expected.shape == (3 * 60, len(t["ttypes"]))
        gap = np.isnan(expected)
        assert gap.sum() == 3 and np.isfinite(rec.traces).all()
        np.testing.assert_array_equal(rec.traces[~gap], expected[~gap])
        col = expected[:, 4]  # the gap is filled linearly between its finite neighbours
        rows = np.flatnonzero(np.isnan(col))
        np.testing.assert_allclose(
            rec.traces[rows, 4], np.interp(rows, np.flatnonzero(~np.isnan(col)), col[~np.isnan(col)]), rtol=1e-6
        )


def test_block_clocks_epochs_and_behaviour(loaded):
    truth, recs, _, _ = loaded
    one_clock = recs["sb025_20191007"]  # blocks already on one session clock keep their times
    np.testing.assert_array_equal(
        one_clock.frame_times, np.concatenate([b["times"] for b in truth["sb025_20191007"]["blocks"]])
    )
    per_block = recs["sb025_20191004"]  # every block's clock starts near 0: placed one after the other
    ft, dt = per_block.frame_times, 1 / 4.3
    assert np.all(np.diff(ft) > 0)
    starts = ft[[0, 60, 120]]
    np.testing.assert_allclose(np.diff(starts), 59 * dt + dt + bugeon.BLOCK_GAP_S)
    for rec in (one_clock, per_block):
        assert rec.epochs["stimulus"].tolist() == [STIMULUS[s] for s, _ in BUGEON_BLOCKS]
        np.testing.assert_allclose(rec.epochs["start"], rec.frame_times[[0, 60, 120]])
        np.testing.assert_allclose(rec.epochs["stop"], rec.frame_times[[59, 119, 179]] + dt)
        assert rec.t_start == rec.frame_times[0] and rec.t_stop == pytest.approx(rec.frame_times[-1] + dt)
    block = truth["sb025_20191004"]["blocks"][0]  # behaviour at the frame times, NaN gaps bridged
    run_t, speed = block["running"]
    ok = np.isfinite(speed)
    np.testing.assert_allclose(
        per_block.behaviour["running_speed"].to_numpy()[:60], np.interp(block["times"], run_t[ok], speed[ok])
    )
    np.testing.assert_allclose(per_block.behaviour["pupil"].to_numpy()[:60], np.interp(block["times"], *block["eye"]))
    assert per_block.behaviour["time"].tolist() == per_block.frame_times.tolist()
    assert np.isfinite(per_block.behaviour[["running_speed", "pupil"]].to_numpy()).all()


def test_mismatched_02_blocks_are_reported_not_fatal(loaded):
    truth, _, report, _ = loaded
    assert len(report) == len(truth)
    for line, t in zip(sorted(report), sorted(truth.values(), key=lambda t: str(t["folder"]))):
        assert str(t["folder"] / "Drifting Gratings" / "02" / "frame.neuralActivity.npy") in line
        assert "21 neurons but the session lists 24" in line and "skipped" in line


def test_malformed_sessions_name_the_file(tmp_path):
    truth = write_bugeon(tmp_path, n_pool=9, n_session=6, frames=8)
    sess = truth["sb026_20191011"]["folder"]
    np.save(sess / "neuron.UniqueID.npy", np.zeros((5, 1)))
    with pytest.raises(
        NeuronbenchError, match=r"2019-10-11/neuron\.UniqueID\.npy: field 'rows': expected 6 entries, got 5"
    ):
        bugeon.load(tmp_path)
    (sess / "neuron.UniqueID.npy").unlink()
    with pytest.raises(NeuronbenchError, match=r"2019-10-11/neuron\.UniqueID\.npy: missing"):
        bugeon.load(tmp_path)
    np.save(sess / "neuron.UniqueID.npy", np.zeros((6, 1)))
    np.save(sess / "Blank" / "01" / "frame.times.npy", np.zeros((8, 1)))
    with pytest.raises(NeuronbenchError, match=r"Blank/01/frame\.times\.npy: field 'times'"):
        bugeon.load(tmp_path)
    with pytest.raises(NeuronbenchError, match="no mouse folder"):
        bugeon.load(tmp_path / "Bugeon et al 2022 v2" / "SB025")


def test_a_neuron_nan_over_a_whole_block_is_an_error_naming_file_and_neuron(tmp_path):
    truth = write_bugeon(tmp_path, n_pool=9, n_session=6, frames=8)
    act = truth["sb026_20191011"]["folder"] / "Natural Scenes" / "01" / "frame.neuralActivity.npy"
    traces = np.load(act)
    traces[:, 2] = np.nan
    np.save(act, traces)
    with pytest.raises(NeuronbenchError, match=r"Natural Scenes/01/frame\.neuralActivity\.npy: field 'traces': "
                                               r"neuron\(s\) \(columns\) \[2\] have no finite dF/F frame"):
        bugeon.load(tmp_path)


def test_a_short_ttype_list_names_the_ttype_file(tmp_path):
    truth = write_bugeon(tmp_path, n_pool=9, n_session=6, frames=8)
    ttype = truth["sb026_20191011"]["folder"] / "neuron.ttype.txt"
    ttype.write_text("\n".join(truth["sb026_20191011"]["ttypes"][:5]) + "\n")
    with pytest.raises(NeuronbenchError, match=r"2019-10-11/neuron\.ttype\.txt: field 'ttype': expected 6 lines, "
                                               r"got 5 \(one per neuron, as in neuron\.UniqueID\.npy"):
        bugeon.load(tmp_path)


def test_cli_prepare_of_a_nan_filled_session_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from neuronbench import cli

    truth = write_bugeon(tmp_path / "raw", n_pool=9, n_session=6, frames=8)
    act = truth["sb025_20191004"]["folder"] / "Blank" / "01" / "frame.neuralActivity.npy"
    np.save(act, np.full(np.load(act).shape, np.nan))
    monkeypatch.setenv("NEURONBENCH_DATA", str(tmp_path / "data"))
    assert cli.main(["data", "prepare", "bugeon", "--raw", str(tmp_path / "raw")]) == 2
    assert "frame.neuralActivity.npy: field 'traces'" in capsys.readouterr().err
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())
