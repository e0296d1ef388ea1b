"""The surrounding information (stimulus, behaviour, session), encoded with CEBRA.

NeurPIR (Wu et al., ICLR 2025, Fig. 1) encodes the stimulus, behaviour and session with
CEBRA (Schneider, Lee & Mathis, Nature 2023; PyPI ``cebra``, Apache-2.0) and gives it to
the neuron encoder as an auxiliary input. The paper leaves CEBRA's settings open; ours
(all in the config): a 0.1 s grid of stimulus one-hots and z-scored behaviour, the
``offset10-model``, a time-contrastive objective fitted on the pretraining recordings
only (no label reaches it), and CEBRA's samplers re-seeded from the fit's seed. Each
choice and why: docs/methods.md ("The surrounding information through CEBRA").
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence

import numpy as np

from neuronbench.data.binning import behaviour_on_grid
from neuronbench.data.recording import BEHAVIOUR_COLUMNS, Recording
from neuronbench.errors import NeuronbenchError

BEHAVIOUR_VARIABLES: tuple[str, ...] = tuple(c for c in BEHAVIOUR_COLUMNS if c != "time")


def stimulus_one_hot(rec: Recording, times: np.ndarray, stimuli: Sequence[str]) -> np.ndarray:
    """(times, len(stimuli)) one-hot of the epoch each time lies in (zeros outside every
    epoch or for a stimulus not in ``stimuli``)."""
    out = np.zeros((len(times), len(stimuli)), dtype=np.float32)
    epochs = rec.epochs.sort_values("start", kind="stable")
    if not len(epochs) or not len(stimuli):
        return out
    starts, stops = epochs["start"].to_numpy(float), epochs["stop"].to_numpy(float)
    column = {s: j for j, s in enumerate(stimuli)}
    code = np.array([column.get(str(s), -1) for s in epochs["stimulus"]])
    idx = np.searchsorted(starts, times, side="right") - 1
    inside = idx >= 0
    inside[inside] &= times[inside] < stops[idx[inside]]
    hit = inside.copy()
    hit[inside] &= code[idx[inside]] >= 0
    out[np.flatnonzero(hit), code[idx[hit]]] = 1.0
    return out


@contextlib.contextmanager
def seeded_cebra_sampling(seed: int) -> Iterator[None]:
    """Within the block, every CEBRA sampler built gets a generator seeded by
    (``seed``, its creation order) instead of the OS entropy (see the module docstring)."""
    from cebra.distributions import base

    original = base.HasGenerator.__init__
    order = itertools.count()

    def seeded_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._seed = int(np.random.SeedSequence([seed, next(order)]).generate_state(1)[0])
        self.generator.manual_seed(self._seed)

    base.HasGenerator.__init__ = seeded_init
    try:
        yield
    finally:
        base.HasGenerator.__init__ = original


class SurroundEncoder:
    """CEBRA over the surrounding information; fitted on pretraining recordings only."""

    def __init__(self, *, output_dimension: int = 8, max_iterations: int = 1000, batch_size: int = 512,
                 learning_rate: float = 3e-4, temperature: float = 1.0, num_hidden_units: int = 32,
                 time_offsets: int = 10, bin_s: float = 0.1):
        self.output_dimension = output_dimension
        self.max_iterations = max_iterations
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.temperature = temperature
        self.num_hidden_units = num_hidden_units
        self.time_offsets = time_offsets
        self.bin_s = bin_s

    def grid(self, rec: Recording) -> np.ndarray:
        """The grid times of a recording (at least one receptive field of 10 points)."""
        n = max(int(np.ceil(rec.duration / self.bin_s)), 10)
        return rec.t_start + self.bin_s * np.arange(n)

    def features(self, rec: Recording) -> np.ndarray:
        """CEBRA's input for a recording: (grid points, stimuli + behaviour variables)."""
        times = self.grid(rec)
        return np.concatenate([stimulus_one_hot(rec, times, self.stimuli_),
                               behaviour_on_grid(rec, times, self.behaviour_)], axis=1)

    def fit(self, recordings: Sequence[Recording], *, seed: int, device: str = "cpu") -> SurroundEncoder:
        """Fit CEBRA (time-contrastive) on the SI of ``recordings``; never sees labels."""
        import cebra

        self.stimuli_ = sorted({str(s) for rec in recordings for s in rec.epochs["stimulus"]})
        self.behaviour_ = [v for v in BEHAVIOUR_VARIABLES
                           if any(rec.behaviour is not None and v in rec.behaviour.columns for rec in recordings)]
        if not self.stimuli_ and not self.behaviour_:
            raise NeuronbenchError("neurpir: the recordings have no stimulus epochs and no behaviour, so there is "
                                   "no surrounding information to encode; use the method 'neurpir-nocebra'")
        x = np.concatenate([self.features(rec) for rec in recordings])
        self.cebra_ = cebra.CEBRA(
            model_architecture="offset10-model", device=device, conditional="time",
            output_dimension=self.output_dimension, max_iterations=self.max_iterations,
            batch_size=self.batch_size, learning_rate=self.learning_rate, temperature=self.temperature,
            num_hidden_units=self.num_hidden_units, time_offsets=self.time_offsets, verbose=False,
        )
        with seeded_cebra_sampling(seed):
            self.cebra_.fit(x)
        return self

    def transform(self, rec: Recording, times: np.ndarray) -> np.ndarray:
        """(len(times), output_dimension) float32: the embedding of the grid point each
        time starts in."""
        emb = self.cebra_.transform(self.features(rec))
        idx = np.clip(np.floor((np.asarray(times) - rec.t_start) / self.bin_s + 1e-9).astype(np.int64),
                      0, len(emb) - 1)
        return np.ascontiguousarray(emb[idx], dtype=np.float32)
