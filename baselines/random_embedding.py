"""The chance control: a random Gaussian vector per neuron.

A neuron's vector depends only on (seed, neuron_id): its standard-normal draws come from
a generator seeded by the SHA-256 of both (`hashlib`, stable across runs and machines,
unlike Python's salted ``hash``). So it is the same whatever the order or subset of the
recordings embedded, and carries no information about the neuron: a probe trained on it
measures the chance level (class balance) of a task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from neuronbench.data.recording import Recording
from neuronbench.errors import NeuronbenchError
from neuronbench.params import Params


def neuron_vector(seed: int, neuron_id: str, dim: int) -> np.ndarray:
    """``dim`` standard-normal values drawn from a generator seeded by
    sha256(``"neuronbench-random/<seed>/<neuron_id>"``)."""
    digest = hashlib.sha256(f"neuronbench-random/{int(seed)}/{neuron_id}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:16], "little"))
    return rng.standard_normal(dim)


class RandomEmbedding(Params):
    """Random vectors: each neuron gets ``neuron_vector(seed, neuron_id, dim)``.
    Parameters declared below (values: the presets of `baselines.RANDOM`)."""

    dim: int  # the number of columns (``random_00``, ``random_01``, ...)

    def fit(self, recordings: Sequence[Recording], *, seed: int, labels: pd.Series | None = None) -> RandomEmbedding:
        """Stores ``seed_``; the recordings and ``labels`` are not used."""
        if isinstance(self.dim, bool) or not isinstance(self.dim, (int, np.integer)) or self.dim < 1:
            raise NeuronbenchError(f"random: config 'dim': expected a positive integer, got {self.dim!r}")
        self.seed_ = int(seed)
        self.n_features_ = int(self.dim)
        return self

    def embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        """One row per unit of ``recordings`` (index ``neuron_id``), ``dim`` float columns."""
        if not hasattr(self, "seed_"):
            raise NeuronbenchError("random: call fit(recordings, seed=...) before embed")
        ids = [str(i) for rec in recordings for i in rec.neuron_ids]
        index = pd.Index(ids, name="neuron_id")
        if index.has_duplicates:
            raise NeuronbenchError(f"random: duplicated neuron ids, e.g. {index[index.duplicated()][:3].tolist()}")
        width = len(str(self.n_features_ - 1))
        columns = [f"random_{j:0{max(width, 2)}d}" for j in range(self.n_features_)]
        values = np.empty((len(ids), self.n_features_))
        for row, nid in enumerate(ids):
            values[row] = neuron_vector(self.seed_, nid, self.n_features_)
        return pd.DataFrame(values, index=index, columns=columns)
