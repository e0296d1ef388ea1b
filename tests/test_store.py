import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuronbench.data.store import TEMP_MARKER, Dataset, make_temp_dir, remove_stale, write_dataset
from neuronbench.errors import NeuronbenchError
from tests.conftest import make_recording, small_recordings


def _write(tmp_path, recs=None):
    recs = recs or small_recordings()
    return Dataset(write_dataset(tmp_path / "handmade", "handmade", recs, label_columns=["cell_class"]))


def test_roundtrip_keeps_every_field_and_separates_labels(tmp_path):
    recs = small_recordings()
    ds = _write(tmp_path, recs)
    assert ds.recordings["recording"].tolist() == [r.recording for r in recs]
    for orig in recs:
        back = ds.recording(orig.recording)
        assert back.labels is None  # labels only on request
        np.testing.assert_array_equal(back.spike_times, orig.spike_times)
        np.testing.assert_array_equal(back.spike_offsets, orig.spike_offsets)
        np.testing.assert_array_equal(back.waveforms, orig.waveforms)
        assert back.neurons["track_id"].tolist() == orig.neurons["track_id"].tolist()
        assert back.epochs["stimulus"].tolist() == ["spontaneous", "gratings"]
        labelled = ds.recording(orig.recording, with_labels=True)
        assert labelled.labels["cell_class"].tolist() == orig.labels["cell_class"].tolist()
        assert labelled.without_labels().labels is None
    assert isinstance(back.spike_times, np.memmap)  # arrays are memory-mapped
    assert len(ds.checksum) == 64


def test_calcium_roundtrip(tmp_path):
    rec = make_recording("ca", "m0", "m0-s0", [None] * 5, ["a"] * 5, modality="calcium")
    ds = Dataset(write_dataset(tmp_path / "ca", "ca", [rec], label_columns=["cell_class"]))
    back = ds.recording("m0-s0")
    np.testing.assert_array_equal(back.traces, rec.traces)
    np.testing.assert_array_equal(back.frame_times, rec.frame_times)


def test_refuses_to_overwrite(tmp_path):
    _write(tmp_path)
    with pytest.raises(NeuronbenchError, match="already there"):
        _write(tmp_path)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_or_truncated_array_names_the_file(tmp_path, damage):
    ds = _write(tmp_path)
    target = ds.path / "arrays" / "m1-s0" / "spike_times.npy"
    data = bytearray(target.read_bytes())
    if damage == "flip":
        data[-3] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    target.write_bytes(bytes(data))
    ds.recording("m0-s0")  # other recordings still load
    with pytest.raises(NeuronbenchError, match="m1-s0/spike_times.npy"):
        Dataset(ds.path).recording("m1-s0")


def test_missing_manifest_and_bad_json(tmp_path):
    with pytest.raises(NeuronbenchError, match="manifest.json"):
        Dataset(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(NeuronbenchError, match="not valid JSON"):
        Dataset(tmp_path)


def test_nan_trace_is_refused_with_the_unit(tmp_path):
    rec = make_recording("ca", "m0", "m0-s0", [None] * 5, ["a"] * 5, modality="calcium")
    rec.traces[:, 3] = np.nan
    with pytest.raises(NeuronbenchError, match=r"traces.*units \['u3'\]"):
        write_dataset(tmp_path / "ca", "ca", [rec], label_columns=["cell_class"])
    assert not (tmp_path / "ca").exists()  # nothing half-written


def test_empty_recording_is_refused(tmp_path):
    rec = make_recording("e", "m0", "m0-s0", [], [])
    with pytest.raises(NeuronbenchError, match="no units"):
        rec.validate()


def test_label_table_that_does_not_match_is_refused():
    rec = make_recording("e", "m0", "m0-s0", [None] * 3, ["a"] * 3)
    bad = rec.labels.assign(neuron_id=["e/m0-s0/u0", "e/m0-s0/u2", "e/m0-s0/u1"])
    with pytest.raises(NeuronbenchError, match="labels.neuron_id"):
        type(rec)(**{**rec.__dict__, "labels": bad}).validate()
    short = rec.labels.iloc[:2]
    with pytest.raises(NeuronbenchError, match="one row per unit"):
        type(rec)(**{**rec.__dict__, "labels": short}).validate()


def test_spikes_outside_the_recording_are_refused():
    rec = make_recording("e", "m0", "m0-s0", [None] * 3, ["a"] * 3)
    st = rec.spike_times.copy()
    st[-1] = rec.t_stop + 5
    with pytest.raises(NeuronbenchError, match="spike_times"):
        type(rec)(**{**rec.__dict__, "spike_times": st}).validate()


def test_labels_file_mismatch_is_detected(tmp_path):
    ds = _write(tmp_path)
    labels = pd.read_parquet(ds.path / "labels.parquet").iloc[::-1]
    # rewrite the file and its manifest entry, as a careless edit would
    labels.to_parquet(ds.path / "labels.parquet", index=False)
    import json
    from neuronbench.data.store import sha256_file
    m = json.loads((ds.path / "manifest.json").read_text())
    p = ds.path / "labels.parquet"
    m["files"]["labels.parquet"] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    (ds.path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(NeuronbenchError, match="labels.parquet.*row by row"):
        Dataset(ds.path).labels


# -- replacing, temporary folders, permissions --------------------------------------------


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _failing(recs):
    """The recordings, then a failure half-way through, as a bad raw folder gives."""
    yield from recs[:3]
    raise NeuronbenchError("raw/bad: field 'x': expected something")


def test_replace_keeps_the_old_dataset_until_the_new_one_is_complete(tmp_path):
    first = _write(tmp_path).checksum
    with pytest.raises(NeuronbenchError, match="raw/bad"):
        write_dataset(tmp_path / "handmade", "handmade", _failing(small_recordings()), label_columns=["cell_class"],
                      replace=True)
    assert Dataset(tmp_path / "handmade").verify().checksum == first
    assert _leftovers(tmp_path) == []
    recs = small_recordings()[:2]
    new = Dataset(write_dataset(tmp_path / "handmade", "handmade", recs, label_columns=["cell_class"], replace=True))
    assert new.verify().checksum != first and new.recordings["recording"].tolist() == ["m0-s0", "m0-s1"]
    assert _leftovers(tmp_path) == []


def test_a_failed_swap_puts_the_old_dataset_back(tmp_path, monkeypatch):
    first = _write(tmp_path).checksum
    rename = os.rename

    def fail_on_new(src, dst):
        if ".tmp-" in Path(src).name:
            raise OSError("disk full")
        rename(src, dst)

    monkeypatch.setattr(os, "rename", fail_on_new)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(tmp_path / "handmade", "handmade", small_recordings()[:2], label_columns=["cell_class"],
                      replace=True)
    assert Dataset(tmp_path / "handmade").verify().checksum == first
    assert _leftovers(tmp_path) == []


def test_replace_refuses_a_folder_that_is_not_a_dataset(tmp_path):
    mine = tmp_path / "handmade"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(NeuronbenchError, match="not a neuronbench dataset"):
        write_dataset(mine, "handmade", small_recordings(), label_columns=["cell_class"], replace=True)
    assert (mine / "notes.txt").read_text() == "mine" and _leftovers(tmp_path) == []


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(proc.stdout)


def test_a_killed_writer_leaves_a_folder_that_the_next_run_removes(tmp_path):
    code = ("import os, sys; from pathlib import Path; from neuronbench.data.store import make_temp_dir; "
            "t = make_temp_dir(Path(sys.argv[1]) / 'handmade'); (t / 'big.npy').write_bytes(b'x' * 1000); "
            "print(t.name); os._exit(9)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    left = tmp_path / proc.stdout.strip()
    assert left.is_dir() and re.fullmatch(r"\.handmade\.tmp-\d+-\w+", left.name)
    theirs = tmp_path / f".handmade.tmp-{_dead_pid()}-abc"  # our pattern, no marker: not ours
    theirs.mkdir()
    alive = make_temp_dir(tmp_path / "other")  # a live writer's folder (this process)
    _write(tmp_path)
    assert not left.exists() and theirs.is_dir() and alive.is_dir()


def test_a_dataset_renamed_aside_by_a_killed_run_is_put_back(tmp_path):
    first = _write(tmp_path).checksum
    pid = _dead_pid()
    aside = tmp_path / f".handmade.old-{pid}-abc"
    os.rename(tmp_path / "handmade", aside)  # killed between the two renames of the swap
    (aside / TEMP_MARKER).write_text(json.dumps({"host": socket.gethostname(), "pid": pid}))
    assert remove_stale(tmp_path) == [aside]
    assert Dataset(tmp_path / "handmade").verify().checksum == first and _leftovers(tmp_path) == []


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_folders_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        ds = _write(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(ds.path.stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((ds.path / "manifest.json").stat().st_mode) == 0o666 & ~mask


@pytest.fixture(scope="module")
def _data_env_in_a_module_fixture():
    return os.environ.get("NEURONBENCH_DATA")


def test_module_fixtures_see_the_private_data_folder(_data_env_in_a_module_fixture, tmp_path_factory):
    assert _data_env_in_a_module_fixture is not None
    assert Path(_data_env_in_a_module_fixture).is_relative_to(tmp_path_factory.getbasetemp())


def test_regenerating_a_simulated_dataset_keeps_the_old_one_if_generation_fails(tmp_path):
    from neuronbench.data.simulated import write_simulated

    first = _write(tmp_path).checksum
    with pytest.raises(NeuronbenchError, match="raw/bad"):
        write_simulated(tmp_path / "handmade", "handmade", _failing(small_recordings()), label_columns=["cell_class"],
                        params={"changed": True}, description="")
    assert Dataset(tmp_path / "handmade").verify().checksum == first and _leftovers(tmp_path) == []


def test_two_recordings_with_one_id_are_refused_and_nothing_is_left(tmp_path):
    recs = small_recordings()
    with pytest.raises(NeuronbenchError, match="field 'recording': the id 'm0-s0' is given to two recordings"):
        _write(tmp_path, [*recs, recs[0]])
    assert list(tmp_path.iterdir()) == []
