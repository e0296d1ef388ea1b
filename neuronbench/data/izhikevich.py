"""A vectorised simulation core for the Izhikevich (2003) spiking neuron model.

Izhikevich, E. M., 2003, "Simple model of spiking neurons", IEEE Trans. Neural Networks
14(6):1569-1572: ``v' = 0.04 v^2 + 5 v + 140 - u + I``, ``u' = a (b v - u)``, reset
``v <- c, u <- u + d`` at 30 mV, with the canonical (a, b, c, d) of the five firing
modes (`CANONICAL_PARAMETERS`). Two 0.5 ms Euler half-steps of v per 1 ms step, as the
published code; the one departure (reset before the u update) and the exact change of
variables that makes the loop fast: docs/simulation.md ("The Izhikevich simulation
core"). `simulate` runs a population with caller-supplied input, optional
`MatrixCoupling` or `PopulationCoupling`, and `GaussianNoise` for the white noise.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from neuronbench import progress

FIRING_MODES: tuple[str, ...] = ("RS", "IB", "CH", "FS", "LTS")
CANONICAL_PARAMETERS: dict[str, tuple[float, float, float, float]] = {
    "RS": (0.02, 0.2, -65.0, 8.0),
    "IB": (0.02, 0.2, -55.0, 4.0),
    "CH": (0.02, 0.2, -50.0, 2.0),
    "FS": (0.1, 0.2, -65.0, 2.0),
    "LTS": (0.02, 0.25, -65.0, 2.0),
}
"""(a, b, c, d) per firing mode, from Izhikevich (2003)."""
V_PEAK = 30.0
"""Spike cut-off (mV)."""

InputCurrent = Callable[[int, int], np.ndarray]
"""``current(first_step, n_steps) -> (n_steps, n_neurons)`` input current of those steps."""


@dataclass(frozen=True)
class IzhikevichParameters:
    """Per-neuron model parameters (1-D arrays of equal length)."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray

    def __post_init__(self) -> None:
        n = len(np.asarray(self.a))
        for name in ("a", "b", "c", "d"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != (n,):
                raise ValueError(f"parameter {name!r}: expected shape ({n},), got {arr.shape}")
            object.__setattr__(self, name, arr)

    @property
    def n_neurons(self) -> int:
        return len(self.a)


def mode_parameters(modes: Sequence[str] | np.ndarray) -> IzhikevichParameters:
    """The canonical parameters of each neuron's firing mode (names in `FIRING_MODES`)."""
    unknown = sorted(set(modes) - set(CANONICAL_PARAMETERS))
    if unknown:
        raise ValueError(f"unknown firing modes {unknown}; expected some of {FIRING_MODES}")
    table = np.array([CANONICAL_PARAMETERS[m] for m in modes], dtype=np.float64).reshape(-1, 4)
    return IzhikevichParameters(*table.T)


def jitter_parameters(
    params: IzhikevichParameters,
    rng: np.random.Generator,
    *,
    a_sd: float = 0.0,
    b_sd: float = 0.0,
    c_sd: float = 0.0,
    d_sd: float = 0.0,
) -> IzhikevichParameters:
    """Per-neuron jitter: a, b and d are multiplied by ``exp(N(0, sd))`` (they stay
    positive), c gets ``N(0, c_sd)`` mV added. Draws a, b, c, d in that order."""
    n = params.n_neurons
    return IzhikevichParameters(
        a=params.a * np.exp(a_sd * rng.standard_normal(n)),
        b=params.b * np.exp(b_sd * rng.standard_normal(n)),
        c=params.c + c_sd * rng.standard_normal(n),
        d=params.d * np.exp(d_sd * rng.standard_normal(n)),
    )


class Coupling(Protocol):
    """Recurrent input: the current each neuron gets from the spikes of the last step."""

    def reset(self) -> None:
        """Forget all past spikes (called at the start of `simulate`)."""

    def current(self, fired: np.ndarray) -> np.ndarray | None:
        """Given the indices of the neurons that spiked in this step, the coupling
        current (n_neurons,) added to the input of the next step (None: zero)."""


class MatrixCoupling:
    """Synapses as a weight matrix, as in Izhikevich's (2003) network: neuron i receives
    ``sum_j W[i, j]`` over the neurons j that spiked in the previous step (an
    instantaneous pulse of current, no synaptic decay)."""

    def __init__(self, weights: np.ndarray) -> None:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[0] != w.shape[1]:
            raise ValueError(f"weights: expected a square matrix, got shape {w.shape}")
        self.weights = w

    def reset(self) -> None:
        pass

    def current(self, fired: np.ndarray) -> np.ndarray | None:
        if fired.size == 0:
            return None
        return self.weights[:, fired].sum(axis=1)


class PopulationCoupling:
    """Coupling through group population activity (a low-rank, all-to-all network).

    Each neuron belongs to a group (e.g. a brain region of one recording). A group's
    trace decays with time constant ``tau_ms`` and jumps by ``source_weight[j] / n_g``
    when its neuron j spikes (n_g: the group's size), so it is a filtered population
    rate; neuron i receives ``target_weight[i] * trace[group[i]]``. With unit source
    weights the trace is the group's mean spike count in the last ~``tau_ms``.
    """

    def __init__(
        self,
        groups: np.ndarray,
        target_weight: np.ndarray | float,
        *,
        tau_ms: float = 20.0,
        dt_ms: float = 1.0,
        source_weight: np.ndarray | float = 1.0,
    ) -> None:
        self.groups = np.asarray(groups, dtype=np.int64)
        if self.groups.ndim != 1 or (self.groups.size and self.groups.min() < 0):
            raise ValueError("groups: expected a 1-D array of non-negative group indices")
        n = self.groups.size
        self.n_groups = int(self.groups.max()) + 1 if n else 0
        sizes = np.bincount(self.groups, minlength=self.n_groups).astype(np.float64)
        self.target_weight = np.broadcast_to(np.asarray(target_weight, dtype=np.float64), (n,)).copy()
        src = np.broadcast_to(np.asarray(source_weight, dtype=np.float64), (n,))
        self._source = src / np.maximum(sizes, 1.0)[self.groups]
        self.decay = float(np.exp(-dt_ms / tau_ms))
        self.trace = np.zeros(self.n_groups)

    def reset(self) -> None:
        self.trace[:] = 0.0

    def current(self, fired: np.ndarray) -> np.ndarray | None:
        self.trace *= self.decay
        if fired.size:
            self.trace += np.bincount(self.groups[fired], weights=self._source[fired], minlength=self.n_groups)
        return self.target_weight * self.trace[self.groups]


class GaussianNoise:
    """Cheap white Gaussian input noise: chunks of shape (n_steps, n_neurons), neuron i
    scaled by ``scale[i]``.

    Drawing ~10^9 normal numbers dominates a long simulation, so rows come from a bank
    of ``bank_rows`` independent N(0, 1) draws per neuron, refreshed every
    ``refresh_chunks`` chunks; each step takes a uniformly random row. Each neuron's
    noise is thus i.i.d. over steps from its own bank (Gaussian samples) and independent
    across neurons; an occasional repeated row (probability 1/bank_rows for a pair of
    steps) is the only approximation.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        scale: np.ndarray,
        *,
        bank_rows: int = 512,
        refresh_chunks: int = 64,
        dtype: type = np.float32,
    ) -> None:
        self.rng = rng
        self.scale = np.asarray(scale, dtype=dtype)
        self.bank_rows = bank_rows
        self.refresh_chunks = refresh_chunks
        self.dtype = dtype
        self._bank: np.ndarray | None = None
        self._calls = 0

    def __call__(self, n_steps: int) -> np.ndarray:
        if self._bank is None or self._calls % self.refresh_chunks == 0:
            self._bank = self.rng.standard_normal((self.bank_rows, self.scale.size), dtype=self.dtype)
            self._bank *= self.scale
        self._calls += 1
        return self._bank[self.rng.integers(0, self.bank_rows, n_steps)]


@dataclass(frozen=True)
class SpikeRaster:
    """The output of `simulate`: one entry per spike, sorted by step then neuron.

    ``steps[k]`` is the step in which ``neurons[k]`` spiked (the spike lies in
    ``[step * dt_ms, (step + 1) * dt_ms)`` ms); ``v`` and ``u`` are the final state.
    """

    steps: np.ndarray
    neurons: np.ndarray
    n_steps: int
    n_neurons: int
    dt_ms: float
    v: np.ndarray
    u: np.ndarray

    def counts(self) -> np.ndarray:
        """Spikes per neuron."""
        return np.bincount(self.neurons, minlength=self.n_neurons)

    def rates_hz(self) -> np.ndarray:
        """Mean firing rate per neuron (Hz)."""
        return self.counts() / (self.n_steps * self.dt_ms / 1000.0)


def simulate(
    params: IzhikevichParameters,
    n_steps: int,
    current: InputCurrent | np.ndarray | float,
    *,
    dt_ms: float = 1.0,
    coupling: Coupling | None = None,
    v0: np.ndarray | float | None = None,
    u0: np.ndarray | float | None = None,
    chunk_steps: int = 250,
    dtype: type = np.float32,
    refractory_steps: int = 0,
) -> SpikeRaster:
    """Simulate a population of Izhikevich (2003) neurons for ``n_steps`` steps of ``dt_ms``.

    Args:
        params: per-neuron (a, b, c, d); the population size is ``params.n_neurons``.
        n_steps: number of time steps.
        current: the external input current (same units as I in the model): either a
            callback ``current(first_step, n) -> (n, n_neurons)`` called for consecutive
            chunks of at most ``chunk_steps`` steps (the returned array may be modified),
            an array (n_steps, n_neurons), or a constant (scalar or (n_neurons,)).
        dt_ms: step (ms); v is integrated in two half-steps of ``dt_ms / 2``.
        coupling: optional recurrent input (see `Coupling`), driven by the spikes of the
            previous step.
        v0, u0: initial state; default v = c (reset potential) and u = b v.
        chunk_steps: steps per input chunk (memory: chunk_steps x n_neurons values).
        dtype: float type of the state (float32 is ~2x faster; float64 for precision).
        refractory_steps: an absolute refractory period (dead time) added to the
            published model: for this many steps after the step of a spike, v is held at
            its reset value c and the neuron cannot fire (0: the model as published).

    Returns:
        `SpikeRaster` with every spike's step and neuron, and the final (v, u).
    """
    n = params.n_neurons
    s = dt_ms / 2.0
    alpha = 0.04 * s  # q = alpha v + beta turns a half-step into q <- q^2 + H
    beta = (1.0 + 5.0 * s) / 2.0
    k_in = alpha * s  # H = k_in (I + I_coupling) + h0 - z
    a, b, c, d = params.a, params.b, params.c, params.d
    h0 = (k_in * 140.0 + s * b * beta + beta - beta * beta).astype(dtype)
    z_keep = (1.0 - a * dt_ms).astype(dtype)  # z <- z (1 - a dt) + z_gain q
    z_gain = (a * dt_ms * b * s).astype(dtype)
    q_reset = (alpha * c + beta).astype(dtype)
    z_jump = (k_in * d).astype(dtype)
    q_peak = dtype(alpha * V_PEAK + beta)

    v_init = np.broadcast_to(np.asarray(c if v0 is None else v0, dtype=np.float64), (n,))
    u_init = np.broadcast_to(np.asarray(b * v_init if u0 is None else u0, dtype=np.float64), (n,))
    q = (alpha * v_init + beta).astype(dtype)
    z = (k_in * u_init + s * b * beta).astype(dtype)

    if callable(current):
        source = current
    else:
        arr = np.asarray(current, dtype=dtype)
        if arr.ndim == 2 and arr.shape != (n_steps, n):
            raise ValueError(f"current: expected shape ({n_steps}, {n}), got {arr.shape}")
        if arr.ndim < 2:
            const = np.broadcast_to(arr, (n,))
            source = lambda k0, m: np.broadcast_to(const, (m, n))  # noqa: E731
        else:
            source = lambda k0, m: arr[k0 : k0 + m]  # noqa: E731
    if coupling is not None:
        coupling.reset()

    h = np.empty(n, dtype)
    tmp = np.empty(n, dtype)
    fired_mask = np.empty(n, bool)
    syn: np.ndarray | None = None
    spike_steps: list[np.ndarray] = []
    spike_neurons: list[np.ndarray] = []
    if refractory_steps < 0:
        raise ValueError(f"refractory_steps: expected 0 or more, got {refractory_steps}")
    recent: deque[np.ndarray] = deque(maxlen=refractory_steps)  # who fired in each of the last steps
    for k0 in progress.steps(range(0, n_steps, chunk_steps), "izhikevich: simulate", unit="chunk"):
        m = min(chunk_steps, n_steps - k0)
        chunk = np.asarray(source(k0, m))
        if chunk.shape != (m, n):
            raise ValueError(f"current({k0}, {m}): expected shape ({m}, {n}), got {chunk.shape}")
        own = callable(current) and chunk.dtype == dtype and chunk.flags.writeable
        drive = chunk if own else chunk.astype(dtype, copy=True)
        drive *= dtype(k_in)
        drive += h0
        for j in range(m):
            np.subtract(drive[j], z, out=h)
            if syn is not None:
                np.multiply(syn, k_in, out=tmp, casting="unsafe")
                h += tmp
            np.square(q, out=q)  # first half-step of v
            q += h
            np.square(q, out=q)  # second half-step of v
            q += h
            for held in recent:  # dead time: clamped at reset, cannot fire
                q[held] = q_reset[held]
            np.greater_equal(q, q_peak, out=fired_mask)
            fired = np.flatnonzero(fired_mask)
            if fired.size:
                q[fired] = q_reset[fired]
                z[fired] += z_jump[fired]
                spike_steps.append(np.full(fired.size, k0 + j, dtype=np.int64))
                spike_neurons.append(fired)
            if refractory_steps:
                recent.append(fired)
            np.multiply(q, z_gain, out=tmp)  # u step with the reset v
            z *= z_keep
            z += tmp
            if coupling is not None:
                syn = coupling.current(fired)

    v = (q.astype(np.float64) - beta) / alpha
    u = (z.astype(np.float64) - s * b * beta) / k_in
    empty = np.zeros(0, dtype=np.int64)
    return SpikeRaster(
        steps=np.concatenate(spike_steps) if spike_steps else empty,
        neurons=np.concatenate(spike_neurons).astype(np.int64) if spike_neurons else empty,
        n_steps=n_steps,
        n_neurons=n,
        dt_ms=dt_ms,
        v=v,
        u=u,
    )
