"""A capability dataset that only a population-context method can solve: assemblies.

Each recording has assemblies of different sizes; the label is the size of a unit's
assembly (``sizes``: 32, 16 or 4 units), each class ``per_class`` units (one assembly of
32, two of 16, eight of 4 by default). Every unit is the same process: an inhomogeneous
Poisson process of mean rate ``rate_hz`` modulated by ``exp(gain z(t))`` (`neuronbench.data.capability.modulation`), z a periodic latent
with time constant ``tau_s`` (`capability.periodic_latent`). The assemblies follow
circular shifts of one latent realisation by distinct multiples of ``block_s`` (as
`coactivity`'s independent units use block-shuffled copies of its shared train): every
unit of every assembly sees the same blocks of one realisation, in a different order,
so any function of a unit's own activity in windows that tile the blocks (NuCLR reads
5 s or 10 s windows), pooled over windows, has the same distribution in every assembly.
Only whom a unit co-varies with, and so how many units rise and fall with it, says
which class it belongs to; that count is a property a unit keeps from window to window,
which a within-recording contrastive objective can use (assemblies of one size are
interchangeable, so a unit's assembly itself is not: no window-to-window code for it).

Scored with the per-recording probe (`capability.probe_score`): balanced classes, chance
1 / len(sizes), null spread `capability.null_sd`.
"""

from __future__ import annotations

import numpy as np

from neuronbench.data.capability import (
    _rngs,
    cox_trains,
    make_recording,
    modulation,
    periodic_latent,
    shared_waveforms,
    shifted,
)
from neuronbench.data.recording import Recording


def assembly_classes(sizes: tuple[int, ...]) -> tuple[str, ...]:
    """The labels of assemblies of ``sizes`` units: ``size32``, ``size16``, ..."""
    return tuple(f"size{k}" for k in sizes)


def assemblies(*, seed: int = 0, n_recordings: int = 2, sizes: tuple[int, ...] = (32, 16, 4), per_class: int = 32,
               duration_s: float = 120.0, dt: float = 0.01, rate_hz: float = 4.0, gain: float = 1.0,
               tau_s: float = 1.0, block_s: float = 10.0) -> list[Recording]:
    """Assemblies with identical single-unit statistics (see the module docstring): each
    class is ``per_class`` units in ``per_class / size`` assemblies of ``size`` units;
    the units are in a random order within each recording."""
    name = "capability-assemblies"
    n_blocks = int(round(duration_s / block_s))
    n_assemblies = sum(per_class // k for k in sizes)
    if any(per_class % k for k in sizes) or n_assemblies > n_blocks or abs(n_blocks * block_s - duration_s) > 1e-9:
        raise ValueError(f"assemblies: per_class ({per_class}) must be a multiple of every size {sizes}, at most "
                         f"{n_blocks} assemblies in all (one block each; got {n_assemblies}), and duration_s "
                         f"({duration_s}) a multiple of block_s ({block_s})")
    classes = np.array(assembly_classes(sizes), dtype=object)
    size_class = np.repeat(np.arange(len(sizes)), [per_class // k for k in sizes])  # class of each assembly
    n_steps, block = int(round(duration_s / dt)), int(round(block_s / dt))
    recs = []
    for r, rng in enumerate(_rngs(seed, name, n_recordings)):
        member = rng.permutation(np.repeat(np.arange(n_assemblies), [sizes[c] for c in size_class]))
        latent = periodic_latent(rng, n_steps, dt, tau_s)
        shifts = rng.permutation(n_blocks)[:n_assemblies] * block
        z = shifted(latent, shifts[member])
        trains = cox_trains(rng, rate_hz * modulation(z, np.full((len(member), 1), gain)), dt)
        recs.append(make_recording(name, r, trains, classes[size_class[member]], duration_s,
                                   waves=shared_waveforms(rng, len(member))))
    return recs
