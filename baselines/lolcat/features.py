"""LOLCAT's input: each neuron as a set of 3 s snippets, each snippet an interval histogram.

Schneider et al. (Cell Reports 2023): the inter-spike-interval distribution of each
snippet, as a linear (90 bins over 0-3 s) or log (bins of log10 interval over 3 ms .. 3 s)
histogram, normalised per bin with the training neurons' statistics. Our recordings have
no trials, so snippets tile each recording; no neuron is dropped; calcium events come
from a thresholded AR(1) deconvolution. Vectorised over all events of a recording. The
published facts and each choice: docs/methods.md ("Its input").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from neuronbench.data.recording import Recording
from neuronbench.errors import NeuronbenchError
from neuronbench.method_cache import cached_array, content_key

HISTOGRAMS: tuple[str, ...] = ("linear", "log")
LOG_RANGE: tuple[float, float] = (-2.5, 0.5)  # log10 seconds (published)
MAD_TO_SD = 1.4826
CHUNK_ENTRIES = 1 << 23  # units x snippets x bins counted by one bincount


@dataclass(frozen=True)
class SnippetConfig:
    """How a neuron becomes a set of interval histograms (see the module docstring)."""

    snippet_s: float = 3.0
    histogram: str = "linear"
    n_bins: int = 90
    add_onset: bool = False
    event_threshold: float = 3.0
    event_decay_s: float = 1.0

    def __post_init__(self) -> None:
        if self.histogram not in HISTOGRAMS:
            raise NeuronbenchError(f"lolcat: config 'histogram': expected one of {HISTOGRAMS}, got {self.histogram!r}")
        if not self.snippet_s > 0 or int(self.n_bins) < 1:
            raise NeuronbenchError("lolcat: config 'snippet_s' and 'n_bins' must be positive")
        if not self.event_decay_s > 0:
            raise NeuronbenchError("lolcat: config 'event_decay_s' must be positive")

    def edges(self) -> np.ndarray:
        """Bin edges: seconds (linear) or log10 seconds (log)."""
        lo, hi = (0.0, self.snippet_s) if self.histogram == "linear" else LOG_RANGE
        return np.linspace(lo, hi, int(self.n_bins) + 1)


def n_snippets(rec: Recording, snippet_s: float) -> int:
    """Number of whole snippets tiling the recording (at least one)."""
    return max(1, int(np.floor(rec.duration / snippet_s + 1e-9)))


def calcium_events(traces: np.ndarray, frame_times: np.ndarray, threshold: float, decay_s: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Events of dF/F ``traces`` (frames, units): (times, unit index), sorted by unit then
    time. Frame t >= 1 is an event when x[t] - gamma x[t-1] > threshold * sigma *
    sqrt(1 + gamma^2) (docs/methods.md, "Its input"); a unit without noise (sigma = 0, e.g. a
    constant trace) has no events."""
    x = np.asarray(traces, dtype=np.float64)
    ft = np.asarray(frame_times, dtype=np.float64)
    gamma = np.exp(-np.median(np.diff(ft)) / decay_s)
    diff = np.diff(x, axis=0)
    sigma = MAD_TO_SD * np.median(np.abs(diff - np.median(diff, axis=0)), axis=0) / np.sqrt(2.0)
    innovation = x[1:] - gamma * x[:-1]
    above = (innovation > threshold * sigma * np.sqrt(1.0 + gamma**2)) & (sigma > 0)
    unit, frame = np.nonzero(above.T)
    return ft[frame + 1], unit


def recording_events(rec: Recording, config: SnippetConfig) -> tuple[np.ndarray, np.ndarray]:
    """(event times, unit index) of every unit, sorted by unit then time: spikes, or
    detected calcium events."""
    if rec.modality == "calcium":
        return calcium_events(rec.traces, rec.frame_times, config.event_threshold, config.event_decay_s)
    times = np.asarray(rec.spike_times, dtype=np.float64)
    unit = np.repeat(np.arange(rec.n_units), np.diff(np.asarray(rec.spike_offsets)))
    if np.any((np.diff(times) < 0) & (unit[1:] == unit[:-1])):  # unsorted within a unit
        order = np.lexsort((times, unit))
        times, unit = times[order], unit[order]
    return times, unit


def interval_histograms(times: np.ndarray, unit: np.ndarray, n_units: int, t_start: float, n_snip: int,
                        config: SnippetConfig) -> np.ndarray:
    """Interval histograms, (n_units, n_snip, n_bins) uint16.

    ``times`` / ``unit``: event times (s) and unit indices, sorted by unit then time.
    Snippet k of a unit covers [t_start + k snippet_s, t_start + (k+1) snippet_s).
    """
    n_bins = int(config.n_bins)
    snip = np.floor((times - t_start) / config.snippet_s).astype(np.int64)
    keep = (snip >= 0) & (snip < n_snip)
    times, unit, snip = times[keep], unit[keep], snip[keep]
    if config.add_onset:  # a pseudo event at each snippet start with an event (original natural-movie path)
        first = np.ones(len(times), dtype=bool)
        first[1:] = (unit[1:] != unit[:-1]) | (snip[1:] != snip[:-1])
        onset = t_start + snip[first] * config.snippet_s
        times = np.insert(times, np.nonzero(first)[0], onset)
        unit = np.insert(unit, np.nonzero(first)[0], unit[first])
        snip = np.insert(snip, np.nonzero(first)[0], snip[first])
    same = (unit[1:] == unit[:-1]) & (snip[1:] == snip[:-1])
    interval = (times[1:] - times[:-1])[same]
    i_unit, i_snip = unit[1:][same], snip[1:][same]
    edges = config.edges()
    if config.histogram == "log":
        value = np.clip(np.log10(np.maximum(interval, 10.0 ** LOG_RANGE[0])), *LOG_RANGE)
    else:
        value = np.clip(interval, edges[0], edges[-1])
    bins = np.minimum(np.searchsorted(edges, value, side="right") - 1, n_bins - 1)

    out = np.zeros((n_units, n_snip, n_bins), dtype=np.uint16)
    step = max(1, CHUNK_ENTRIES // (n_snip * n_bins))
    bounds = np.searchsorted(i_unit, np.arange(0, n_units + step, step))
    for c, u0 in enumerate(range(0, n_units, step)):  # chunks of units bound the bincount's memory
        u1 = min(u0 + step, n_units)
        sl = slice(bounds[c], bounds[c + 1])
        flat = ((i_unit[sl] - u0) * n_snip + i_snip[sl]) * n_bins + bins[sl]
        counts = np.bincount(flat, minlength=(u1 - u0) * n_snip * n_bins)
        out[u0:u1] = np.minimum(counts, np.iinfo(np.uint16).max).reshape(u1 - u0, n_snip, n_bins)
    return out


def snippet_histograms(rec: Recording, config: SnippetConfig) -> np.ndarray:
    """The recording's snippet histograms, (units, snippets, bins) uint16; computed once
    per recording and config in a grid (`neuronbench.method_cache`: the fits of a grid
    share them), read-only."""
    def compute() -> np.ndarray:
        times, unit = recording_events(rec, config)
        return interval_histograms(times, unit, rec.n_units, rec.t_start, n_snippets(rec, config.snippet_s), config)

    return cached_array("histograms", histogram_key(rec, config), compute)


def histogram_key(rec: Recording, config: SnippetConfig) -> str:
    """What the histograms of ``rec`` depend on: its events (spikes, or the traces and
    frame times they are detected from), its time span and the config."""
    return content_key("lolcat snippet histograms 1", dataclasses.asdict(config), rec.modality, rec.n_units,
                       float(rec.t_start), float(rec.t_stop), rec.spike_times, rec.spike_offsets, rec.traces,
                       rec.frame_times)


def normalisation(histograms: np.ndarray, n_snip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin (mean, 1/std) over the valid snippets of (neurons, snippets, bins)
    histograms, where neuron i has ``n_snip[i]`` valid snippets and zeros after them
    (padding adds nothing to the sums). ``1/std`` (population std) is 0 for bins with
    std 0, so those bins normalise to 0 (as the original)."""
    count = float(np.sum(n_snip))
    if count == 0:
        raise NeuronbenchError("lolcat: no snippet to compute the normalisation from")
    x = histograms.reshape(-1, histograms.shape[-1])
    mean = x.sum(axis=0, dtype=np.float64) / count
    var = np.maximum(np.einsum("ij,ij->j", x, x, dtype=np.float64) / count - mean**2, 0.0)
    std = np.sqrt(var)
    inv = np.divide(1.0, std, out=np.zeros_like(std), where=std > 1e-12)
    return mean.astype(np.float32), inv.astype(np.float32)
