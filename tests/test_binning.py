import numpy as np

from neuronbench.data.binning import activity, bin_spikes
from tests.conftest import make_recording


def test_bin_spikes_matches_a_direct_histogram():
    rec = make_recording("d", "m0", "m0-s0", [None] * 4, ["a"] * 4, duration=10.0)
    counts = bin_spikes(rec, 0.5)
    assert counts.shape == (4, 20) and counts.dtype == np.float32
    for i in range(4):
        expected, _ = np.histogram(rec.unit_spikes(i), bins=np.arange(0, 10.0 + 1e-9, 0.5))
        np.testing.assert_array_equal(counts[i], expected)
    # a window inside the recording; the partial last bin is dropped
    sub = bin_spikes(rec, 0.3, 1.0, 2.0)
    assert sub.shape == (4, 3)
    for i in range(4):
        expected, _ = np.histogram(rec.unit_spikes(i), bins=1.0 + 0.3 * np.arange(4))
        np.testing.assert_array_equal(sub[i], expected)


def test_activity_of_calcium_is_the_trace():
    rec = make_recording("d", "m0", "m0-s0", [None] * 3, ["a"] * 3, modality="calcium")
    act, times = activity(rec)
    np.testing.assert_array_equal(act, rec.traces.T)
    np.testing.assert_array_equal(times, rec.frame_times)
