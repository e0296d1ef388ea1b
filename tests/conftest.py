"""Shared fixtures: hand-made recordings in canonical form, and a private data folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuronbench.data.recording import Recording, neuron_id


@pytest.fixture(scope="session", autouse=True)
def _data_root(tmp_path_factory):
    """Every test and fixture reads and writes datasets in a session-wide temporary
    folder, never the user's ``$NEURONBENCH_DATA``: session-scoped, so that it is set
    before any module-scoped fixture runs."""
    root = tmp_path_factory.getbasetemp() / "nb-data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEURONBENCH_DATA", str(root))
        yield root


@pytest.fixture(autouse=True)
def _one_core(monkeypatch):
    """`neuronbench run` without --jobs runs in this process, as on a one-core machine: the
    tests' spies and call counts live here (tests of the worker pool start it themselves)."""
    monkeypatch.setattr("neuronbench.executors.available_cores", lambda: 1)


def make_recording(dataset: str, animal: str, rec: str, tracks: list[str | None], labels: list[str],
                   *, seed: int = 0, modality: str = "spikes", duration: float = 20.0) -> Recording:
    """A small recording with Poisson units (or random calcium traces) and the given labels."""
    rng = np.random.default_rng(seed)
    n = len(tracks)
    units = [f"u{i}" for i in range(n)]
    ids = [neuron_id(dataset, rec, u) for u in units]
    neurons = pd.DataFrame({"neuron_id": ids, "unit": units, "track_id": tracks,
                            "x": np.nan, "y": np.nan, "z": np.nan})
    epochs = pd.DataFrame({"start": [0.0, duration / 2], "stop": [duration / 2, duration],
                           "stimulus": ["spontaneous", "gratings"]})
    common = dict(dataset=dataset, animal=animal, recording=rec, neurons=neurons, t_start=0.0,
                  t_stop=duration, epochs=epochs,
                  labels=pd.DataFrame({"neuron_id": ids, "cell_class": labels}))
    if modality == "calcium":
        frames = int(duration * 4)
        return Recording(modality="calcium", traces=rng.normal(size=(frames, n)).astype(np.float32),
                         frame_times=np.arange(frames) / 4.0, **common)
    trains = [np.sort(rng.uniform(0, duration, rng.integers(20, 60))) for _ in range(n)]
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in trains])]).astype(np.int64)
    waveforms = rng.normal(size=(n, 90)).astype(np.float32)
    return Recording(modality="spikes", spike_times=np.concatenate([np.zeros(0), *trains]), spike_offsets=offsets,
                     waveforms=waveforms, waveform_rate=30000.0, **common)


def small_recordings(dataset: str = "handmade") -> list[Recording]:
    """3 animals x 2 recordings; 12 neurons each, 8 of them tracked across the animal's
    two recordings; labels 'a' / 'b' constant per tracked neuron."""
    recs = []
    for a in range(3):
        for s in range(2):
            tracks = [f"n{i}" for i in range(8)] + [None] * 4
            if s == 1:  # partial overlap: the second session misses n0, n1
                tracks = [f"n{i}" for i in range(2, 8)] + [None] * 6
            labels = [("a" if (t is None or int(t[1:]) % 2) else "b") if t else ("a" if i % 2 else "b")
                      for i, t in enumerate(tracks)]
            recs.append(make_recording(dataset, f"m{a}", f"m{a}-s{s}", tracks, labels, seed=10 * a + s))
    return recs


LAB_OF = {"m0": "north", "m1": "north", "m2": "south", "m3": "south", "m4": "west", "m5": "west"}
"""The animals of `lab_recordings` and their labs."""


def lab_recordings(dataset: str = "handmade", lab_of: dict[str, str] = LAB_OF) -> list[Recording]:
    """Two recordings per animal of ``lab_of``, 8 neurons each (6 tracked across them),
    labels 'cell_class' a / b and 'lab', each neuron's lab that of its animal."""
    recs = []
    for k, (animal, lab) in enumerate(lab_of.items()):
        for s in range(2):
            tracks = [f"n{i}" for i in range(6)] + [None] * 2
            rec = make_recording(dataset, animal, f"{animal}-s{s}", tracks, ["a" if i % 2 else "b" for i in range(8)],
                                 seed=10 * k + s)
            rec.labels["lab"] = lab
            recs.append(rec)
    return recs
