"""The canonical recording: one probe insertion (ephys) or one imaging session (calcium).

Every loader turns its native files into `Recording` objects and every method reads only
these. Neuron ids are global, ``<dataset>/<recording>/<unit>``; a neuron tracked across
recordings (Bugeon's UniqueID, the synthetic pool) also carries a ``track_id`` that is the
same in every recording where it appears. Labels (cell class, subclass, region, ...) live
in a separate table, and `without_labels` drops it: that is the form methods receive.

Spike trains are stored as one concatenated ``spike_times`` array with CSR offsets
(unit i's spikes are ``spike_times[spike_offsets[i]:spike_offsets[i + 1]]``), so a
recording of any size is two flat arrays that memory-map from disk.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from neuronbench.errors import NeuronbenchError

Modality = Literal["spikes", "calcium"]
MODALITIES: tuple[str, ...] = ("spikes", "calcium")

NEURON_COLUMNS: tuple[str, ...] = ("neuron_id", "unit", "track_id", "x", "y", "z")
"""Columns of every neurons table; x, y, z are NaN and track_id is None when unknown."""

EPOCH_COLUMNS: tuple[str, ...] = ("start", "stop", "stimulus")
BEHAVIOUR_COLUMNS: tuple[str, ...] = ("time", "running_speed", "pupil")


def neuron_id(dataset: str, recording: str, unit: str | int) -> str:
    """The global id of a unit: ``<dataset>/<recording>/<unit>``."""
    return f"{dataset}/{recording}/{unit}"


def group_keys(animal: str | pd.Series, track_id: pd.Series, neuron_ids: pd.Series | np.ndarray) -> np.ndarray:
    """The identity of each neuron across recordings: ``<animal>/<track_id>`` for a
    tracked neuron (the same key in every recording of its animal where it appears), else
    its neuron id. ``animal`` is one id or one per neuron."""
    track = pd.Series(np.asarray(track_id, dtype=object))
    animal = pd.Series(np.broadcast_to(np.asarray(animal, dtype=object), len(track))).astype(str)
    return np.where(track.notna(), animal + "/" + track.astype(str), np.asarray(neuron_ids, dtype=object).astype(str))


@dataclass(frozen=True, eq=False)
class Recording:
    """One recording in canonical form. Arrays may be read-only memory maps.

    Attributes:
        dataset, animal, recording: ids; ``recording`` is unique within its dataset.
        modality: ``"spikes"`` (spike times per unit) or ``"calcium"`` (frames x neurons).
        neurons: one row per unit, columns `NEURON_COLUMNS` (in unit order).
        t_start, t_stop: the span of the recording in seconds.
        spike_times, spike_offsets: spikes modality; float64 seconds, CSR by unit.
        traces, frame_times: calcium modality; float32 (frames, neurons), float64 (frames,).
        waveforms, waveform_rate: optional peak-channel mean waveform per unit
            (neurons, samples) and its sampling rate in Hz.
        epochs: stimulus epochs, columns `EPOCH_COLUMNS`, sorted by start.
        behaviour: optional, columns ``time`` plus ``running_speed`` and/or ``pupil``.
        labels: optional, one row per unit in the same order as ``neurons``; one
            column per label (e.g. ``cell_class``, ``subclass``, ``region``), None where
            a unit has no label. Methods never see it (`without_labels`).
    """

    dataset: str
    animal: str
    recording: str
    modality: Modality
    neurons: pd.DataFrame
    t_start: float
    t_stop: float
    epochs: pd.DataFrame
    spike_times: np.ndarray | None = None
    spike_offsets: np.ndarray | None = None
    traces: np.ndarray | None = None
    frame_times: np.ndarray | None = None
    waveforms: np.ndarray | None = None
    waveform_rate: float | None = None
    behaviour: pd.DataFrame | None = None
    labels: pd.DataFrame | None = None

    @property
    def n_units(self) -> int:
        return len(self.neurons)

    @property
    def neuron_ids(self) -> np.ndarray:
        return self.neurons["neuron_id"].to_numpy()

    @property
    def group_keys(self) -> np.ndarray:
        """Each unit's identity across recordings (`group_keys`)."""
        return group_keys(self.animal, self.neurons["track_id"], self.neurons["neuron_id"])

    @property
    def duration(self) -> float:
        return float(self.t_stop - self.t_start)

    def unit_spikes(self, i: int) -> np.ndarray:
        """Spike times (s) of the i-th unit."""
        if self.spike_times is None or self.spike_offsets is None:
            raise NeuronbenchError(f"recording {self.recording!r} has no spikes ({self.modality})")
        return self.spike_times[self.spike_offsets[i] : self.spike_offsets[i + 1]]

    def spike_counts(self) -> np.ndarray:
        """Number of spikes per unit."""
        if self.spike_offsets is None:
            raise NeuronbenchError(f"recording {self.recording!r} has no spikes ({self.modality})")
        return np.diff(np.asarray(self.spike_offsets))

    def without_labels(self) -> Recording:
        """The same recording with its labels table removed: what methods receive."""
        return dataclasses.replace(self, labels=None)

    def validate(self, where: str | None = None) -> Recording:
        """Check the canonical contract; raise `NeuronbenchError` naming what is wrong.

        ``where`` names the source (a file or folder) in the message.
        """
        src = f"{where}: " if where else ""
        name = f"{src}recording {self.dataset}/{self.recording}"

        def fail(field: str, problem: str) -> None:
            raise NeuronbenchError(f"{name}: field {field!r}: {problem}")

        for field, value in (("dataset", self.dataset), ("recording", self.recording)):
            if not value or "/" in value:
                fail(field, f"expected a non-empty id without '/', got {value!r}")
        if self.modality not in MODALITIES:
            fail("modality", f"expected one of {MODALITIES}, got {self.modality!r}")
        missing = [c for c in NEURON_COLUMNS if c not in self.neurons.columns]
        if missing:
            fail("neurons", f"missing columns {missing}")
        n = self.n_units
        if n == 0:
            fail("neurons", "the recording has no units (empty recording)")
        ids = self.neurons["neuron_id"]
        expected = [neuron_id(self.dataset, self.recording, u) for u in self.neurons["unit"]]
        if list(ids) != expected:
            fail("neurons.neuron_id", "expected '<dataset>/<recording>/<unit>' for every unit")
        if ids.duplicated().any():
            fail("neurons.neuron_id", f"duplicated ids {ids[ids.duplicated()].tolist()[:3]}")
        if not (np.isfinite(self.t_start) and np.isfinite(self.t_stop) and self.t_stop > self.t_start):
            fail("t_start/t_stop", f"expected finite t_start < t_stop, got {self.t_start}, {self.t_stop}")

        if self.modality == "spikes":
            if self.spike_times is None or self.spike_offsets is None:
                fail("spike_times", "a spikes recording needs spike_times and spike_offsets")
            off = np.asarray(self.spike_offsets)
            if off.shape != (n + 1,) or off[0] != 0 or off[-1] != len(self.spike_times) or np.any(np.diff(off) < 0):
                fail("spike_offsets", f"expected {n + 1} non-decreasing offsets from 0 to {len(self.spike_times)}")
            st = np.asarray(self.spike_times)
            if len(st) and not np.all(np.isfinite(st)):
                fail("spike_times", "contains NaN or infinite values")
            if len(st) and (st.min() < self.t_start or st.max() > self.t_stop):
                fail("spike_times", f"spikes outside [{self.t_start}, {self.t_stop}]")
            if len(st) == 0:
                fail("spike_times", "the recording has no spikes at all (empty recording)")
        else:
            if self.traces is None or self.frame_times is None:
                fail("traces", "a calcium recording needs traces and frame_times")
            tr = self.traces
            if tr.ndim != 2 or tr.shape[1] != n:
                fail("traces", f"expected shape (frames, {n}), got {tr.shape}")
            if tr.shape[0] < 2:
                fail("traces", f"expected at least 2 frames, got {tr.shape[0]} (empty recording)")
            if self.frame_times.shape != (tr.shape[0],):
                fail("frame_times", f"expected shape ({tr.shape[0]},), got {self.frame_times.shape}")
            if not np.all(np.diff(self.frame_times) > 0):
                fail("frame_times", "expected strictly increasing times")
            bad = ~np.isfinite(tr).all(axis=0)
            if bad.any():
                units = self.neurons["unit"].to_numpy()[bad][:5].tolist()
                fail("traces", f"NaN or infinite values in {int(bad.sum())} unit(s), e.g. units {units}")

        if self.waveforms is not None:
            if self.waveforms.ndim != 2 or self.waveforms.shape[0] != n:
                fail("waveforms", f"expected shape ({n}, samples), got {self.waveforms.shape}")
            if not self.waveform_rate or self.waveform_rate <= 0:
                fail("waveform_rate", "waveforms need a positive sampling rate in Hz")
        missing = [c for c in EPOCH_COLUMNS if c not in self.epochs.columns]
        if missing:
            fail("epochs", f"missing columns {missing}")
        if len(self.epochs) and not (self.epochs["stop"] > self.epochs["start"]).all():
            fail("epochs", "every epoch needs start < stop")
        if self.behaviour is not None and "time" not in self.behaviour.columns:
            fail("behaviour", "missing column 'time'")
        if self.labels is not None:
            if len(self.labels) != n:
                fail("labels", f"expected one row per unit ({n}), got {len(self.labels)}")
            if "neuron_id" in self.labels.columns and list(self.labels["neuron_id"]) != list(ids):
                fail("labels.neuron_id", "the label table does not match the recording's units")
        return self
