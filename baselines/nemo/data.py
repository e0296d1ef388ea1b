"""NEMO's two inputs per unit: the peak-channel waveform and the 3D ACG.

Waveform (Yu et al., ICLR 2025; NEMO_ICLR ``EmbeddingDataset``): the peak-channel
template, 90 samples = 3 ms at 30 kHz, scaled by its maximum absolute value (the original
divides every augmented copy by its max |value|; `augment.augment_waveforms` does that
after the noise, so it is done here too for the un-augmented read-out). A recording at
another rate or length is resampled to 30 kHz by linear interpolation and cut to the 3 ms
window that puts the largest |value| at 1 ms (sample 30, where the synthetic datasets'
templates have their trough; the original crops fixed samples, e.g. IBL's
``templates[:, 12:102]``); samples beyond the recorded ones repeat the edge values.
Waveforms of 90 samples at 30 kHz are used as given. No sign flip (the original flips
positive-peaked units only in some datasets' preparation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neuronbench_baselines.nemo.acg import acg_3d
from neuronbench.data.recording import Recording
from neuronbench.errors import NeuronbenchError

WAVEFORM_SAMPLES = 90
WAVEFORM_RATE = 30_000.0
PEAK_SAMPLE = 30  # 1 ms into the 3 ms window


def prepare_waveforms(waveforms: np.ndarray, rate: float) -> np.ndarray:
    """(units, 90) float32 waveforms at 30 kHz, each scaled by its max |value|."""
    w = np.asarray(waveforms, dtype=np.float64)
    n_src = w.shape[1]
    if n_src < 2:
        raise NeuronbenchError(f"nemo: waveforms need at least 2 samples, got {n_src}")
    if n_src != WAVEFORM_SAMPLES or rate != WAVEFORM_RATE:
        peak = np.argmax(np.abs(w), axis=1)[:, None]
        # Fractional source sample of each target sample; clamped: edge values repeat.
        src = peak + (np.arange(WAVEFORM_SAMPLES) - PEAK_SAMPLE)[None, :] * (rate / WAVEFORM_RATE)
        src = np.clip(src, 0, n_src - 1)
        left = np.minimum(np.floor(src).astype(np.int64), n_src - 2)
        frac = src - left
        w = np.take_along_axis(w, left, 1) * (1 - frac) + np.take_along_axis(w, left + 1, 1) * frac
    scale = np.abs(w).max(axis=1, keepdims=True)
    return (w / np.where(scale > 0, scale, 1.0)).astype(np.float32)


def unit_inputs(recordings: Sequence[Recording]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(neuron ids, waveforms (units, 90), 3D ACGs (units, 10, 101)) of every unit, in
    recording order. Raises `NeuronbenchError` for a recording NEMO cannot read."""
    ids, waves, acgs = [], [], []
    for rec in recordings:
        if rec.modality != "spikes" or rec.waveforms is None:
            raise NeuronbenchError(
                f"nemo: recording {rec.dataset}/{rec.recording} has no spikes with waveforms "
                f"({rec.modality}); NEMO needs both"
            )
        if not np.all(np.isfinite(rec.waveforms)):
            raise NeuronbenchError(f"nemo: recording {rec.dataset}/{rec.recording}: field 'waveforms' "
                                   "contains NaN or infinite values")
        ids.append(rec.neuron_ids)
        waves.append(prepare_waveforms(rec.waveforms, float(rec.waveform_rate)))
        acgs.append(acg_3d(rec.spike_times, rec.spike_offsets, rec.t_start, rec.t_stop))
    return np.concatenate(ids), np.concatenate(waves), np.concatenate(acgs)
