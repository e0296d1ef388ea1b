import numpy as np
import pandas as pd
import pytest

from neuronbench.data.store import Dataset, write_dataset
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
