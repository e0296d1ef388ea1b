"""Memory bounded by one recording, not by the dataset: stores of binned activity are
filled one recording at a time into a file-backed buffer, with the same numbers."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from neuronbench.data import binning
from neuronbench.data.synthetic_scale import ScaleConfig, recording

torch = pytest.importorskip("torch")

CONFIG = ScaleConfig(n_recordings=3, n_units=6, duration_s=30.0)


@pytest.fixture(scope="module")
def recordings():
    return [recording(CONFIG, i).without_labels() for i in range(CONFIG.n_recordings)]


def test_scratch_array_is_a_writable_file_backed_buffer_of_zeros():
    a = binning.scratch_array(1000, np.uint8)
    assert isinstance(a, np.memmap) and a.dtype == np.uint8 and a.shape == (1000,) and not a.any()
    a[10:20] = 7
    assert a.sum() == 70
    assert binning.scratch_array(0, np.float32).shape == (0,)


class _LiveArrays:
    """Wraps a function returning arrays; records how many of its results were still
    alive each time it was called again."""

    def __init__(self, fn):
        self.fn, self.refs, self.alive = fn, [], []

    def __call__(self, *args, **kwargs):
        gc.collect()
        self.alive.append(sum(r() is not None for r in self.refs))
        out = self.fn(*args, **kwargs)
        self.refs.append(weakref.ref(out))
        return out


def test_nuclr_store_bins_one_recording_at_a_time_into_a_file_backed_buffer(recordings, monkeypatch):
    from neuronbench_methods.nuclr import data

    spy = _LiveArrays(data.bin_spikes)
    monkeypatch.setattr(data, "bin_spikes", spy)
    buffers = []
    monkeypatch.setattr(data, "scratch_array", lambda n, dtype: buffers.append(binning.scratch_array(n, dtype))
                        or buffers[-1])
    store = data.build_store(recordings, bin_s=0.02, bins_per_token=50, frames_per_token=4,
                             device=torch.device("cpu"))
    assert spy.alive == [0, 0, 0]  # each recording's bins freed before the next is binned
    assert len(buffers) == 1 and isinstance(buffers[0], np.memmap)
    assert np.shares_memory(store.host, buffers[0])
    # the same numbers as binning every recording and concatenating
    expected = np.concatenate([np.minimum(binning.bin_spikes(r, 0.02), 255).astype(np.uint8).ravel()
                               for r in recordings])
    assert np.array_equal(store.host, expected)
    for r, rec in enumerate(recordings):
        assert np.array_equal(store.block(r), np.minimum(binning.bin_spikes(rec, 0.02), 255))


def test_neurpir_fit_fills_its_store_one_recording_at_a_time(recordings, monkeypatch):
    from neuronbench_methods.neurpir import method, segments
    from neuronbench.registry import get_method

    def activity_only(rec, bin_s, percentile=99.0):
        return segments.recording_activity(rec, bin_s, percentile)

    made = _LiveArrays(lambda *a: activity_only(*a)[0])
    monkeypatch.setattr(method, "recording_activity", lambda *a: (made(*a), activity_only(*a)[1]))
    buffers = []
    monkeypatch.setattr(segments, "scratch_array", lambda n, dtype: buffers.append(binning.scratch_array(n, dtype))
                        or buffers[-1])
    info = get_method("neurpir-nocebra")
    model = info.build(info.config("tiny", "cpu")).fit(recordings, seed=0)
    assert made.alive == [0, 0, 0]
    assert len(buffers) == 1 and isinstance(buffers[0], np.memmap)
    expected = np.concatenate([segments.recording_activity(r, model.bin_s)[0].ravel() for r in recordings])
    assert np.array_equal(buffers[0], expected)


def test_segment_store_refuses_activity_of_another_shape():
    from neuronbench_methods.neurpir.segments import SegmentStore
    from neuronbench.errors import NeuronbenchError

    act = np.zeros((2, 5), np.float32)
    with pytest.raises(NeuronbenchError, match="shape"):
        SegmentStore.stream([(act, np.zeros((5, 0), np.float32))], [(2, 6)], ["a", "b"])


def test_neuprint_sessions_keep_their_activity_file_backed(recordings):
    from neuronbench_baselines.neuprint.data import prepare_session

    session = prepare_session(recordings[0], bin_s=0.233, train_fraction=0.75, behaviour_columns=("running_speed",))
    assert isinstance(session.z, np.memmap)
    expected = binning.zscore(binning.activity(recordings[0], 0.233)[0], axis=1).astype(np.float32)
    assert session.z.dtype == np.float32 and np.array_equal(session.z, expected)
    assert np.array_equal(session.s1, expected.astype(np.float64).sum(axis=0))


def test_lolcat_histogram_table_is_file_backed_and_holds_each_recordings_histograms(recordings):
    from neuronbench_baselines.lolcat import INFO
    from neuronbench_baselines.lolcat.features import snippet_histograms
    from neuronbench_baselines.lolcat.method import histogram_table

    config = INFO.build(INFO.config("tiny", "cpu"))._snippet_config("spikes")
    ids = [recordings[1].neuron_ids[2], recordings[0].neuron_ids[0]]
    table, n_snip = histogram_table(recordings, ids, config)
    assert isinstance(table, np.memmap) and table.dtype == np.uint16
    assert np.array_equal(table[0], snippet_histograms(recordings[1], config)[2])
    assert np.array_equal(table[1], snippet_histograms(recordings[0], config)[0])
