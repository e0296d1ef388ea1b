"""synthetic-scale: the cost workload generator (tiny sizes only)."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from neuronbench.data import store, synthetic_scale
from neuronbench.protocol.datasets import get_dataset_info, get_task, load_dataset
from neuronbench.data.synthetic_scale import REGIONS, ScaleConfig, gamma_renewal, recording, tiny_config
from neuronbench.protocol.settings import get_split
from neuronbench.protocol.tasks import task_table


def test_recording_is_canonical_deterministic_and_independent_of_the_others():
    config = tiny_config()
    a = recording(config, 3).validate()
    b = recording(config, 3)
    assert np.array_equal(a.spike_times, b.spike_times) and np.array_equal(a.spike_offsets, b.spike_offsets)
    assert not np.array_equal(recording(config, 2).spike_offsets, a.spike_offsets)
    assert a.n_units == config.n_units and a.duration == config.duration_s
    assert a.waveforms.shape == (config.n_units, 90) and set(a.epochs["stimulus"]) == {"spontaneous", "gratings",
                                                                                      "scenes"}
    assert a.behaviour is not None and a.animal == "a1"  # 2 recordings per animal
    assert sorted(a.labels["region"].value_counts().to_dict().items()) == [(r, 6) for r in sorted(REGIONS)]
    for i in range(a.n_units):
        assert np.all(np.diff(a.unit_spikes(i)) >= 0)


def test_sizes_are_parameters():
    config = ScaleConfig(n_recordings=2, n_units=8, duration_s=20.0, seed=1)
    rec = recording(config, 1)
    assert rec.n_units == 8 and rec.t_stop == 20.0 and rec.recording == "s0001"
    with pytest.raises(ValueError, match="n_units"):
        ScaleConfig(n_units=0)


def test_gamma_renewal_has_the_rate_and_regularity_of_its_shape():
    rng = np.random.default_rng(0)
    grid = np.linspace(0.0, 2000.0, 2001)
    for shape in (0.5, 1.0, 3.0):
        spikes = gamma_renewal(rng, 5.0 * grid, grid, shape)  # constant 5 Hz
        isi = np.diff(spikes)
        assert len(spikes) / 2000.0 == pytest.approx(5.0, rel=0.05)
        assert isi.std() / isi.mean() == pytest.approx(1 / np.sqrt(shape), rel=0.08)


def test_region_drive_makes_units_of_a_region_covary():
    rec = recording(ScaleConfig(n_recordings=1, n_units=40, duration_s=300.0, median_rate_hz=10.0), 0)
    counts = np.stack([np.histogram(rec.unit_spikes(i), bins=np.arange(0, 300.5, 0.5))[0] for i in range(40)])
    corr = np.corrcoef(counts)
    region = rec.labels["region"].to_numpy()
    same = region[:, None] == region[None, :]
    off = ~np.eye(40, dtype=bool)
    assert corr[same & off].mean() > corr[~same].mean() + 0.05


def test_registered_tiny_dataset_builds_and_the_region_task_splits(tmp_path):
    assert get_dataset_info("synthetic-scale-tiny").generator == "neuronbench.data.synthetic_scale:build"
    ds = load_dataset("synthetic-scale-tiny", tmp_path)
    assert len(ds.recordings) == 6 and ds.name == "synthetic-scale-tiny"
    assert ds.neurons["neuron_id"].iloc[0].startswith("synthetic-scale-tiny/s0000/")
    task = get_task("synthetic-scale-tiny", "region")
    assert task.classes == REGIONS
    assert len(task_table(ds, task)) == 6 * 24
    split = get_split(ds, task, "inductive", root=tmp_path)
    assert split.folds[0].test and set(split.folds[0].pretrain) < set(ds.recordings["recording"])
    checksum = ds.checksum
    assert load_dataset("synthetic-scale-tiny", tmp_path).checksum == checksum  # cached, not rebuilt


def test_build_streams_one_recording_at_a_time(tmp_path, monkeypatch):
    """The writer receives an iterator, and a recording it has consumed is freed before
    the next one is made: memory is bounded by one recording, not by the dataset."""
    alive_at_next: list[int] = []
    real = store.write_dataset

    def spy(path, name, recordings, **kw):
        assert not isinstance(recordings, (list, tuple))
        refs: list[weakref.ref] = []

        def watched():
            it = iter(recordings)
            while True:
                gc.collect()
                alive_at_next.append(sum(r() is not None for r in refs))
                try:
                    rec = next(it)
                except StopIteration:
                    return
                refs.append(weakref.ref(rec))
                yield rec
                del rec

        return real(path, name, watched(), **kw)

    monkeypatch.setattr(store, "write_dataset", spy)
    synthetic_scale.build(tmp_path, name="synthetic-scale-tiny", n_recordings=4, n_units=8, duration_s=20.0)
    assert alive_at_next == [0, 0, 0, 0, 0]
    assert len(store.Dataset(tmp_path / "synthetic-scale-tiny").recordings) == 4
