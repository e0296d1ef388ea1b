"""Capability datasets, test material for methods (beside `neuronbench.testing`): tiny
recordings where a two-class label lives in exactly one channel.

Each learned method must see the channel its paper says it reads (its capability check). Every generator here returns recordings in canonical
form whose units carry a label (column `LABEL`) with two balanced classes. The label is
put in ONE channel; every other channel has the same distribution in both classes, so a
unit's own spike train (rate, ISI distribution), waveform and behaviour are identically
distributed across the classes unless that channel is the one:

`coactivity`
    Within-window co-activity. Every unit is a Poisson process: a background rate plus a
    share (``participation``) of a Poisson "event" train (``event_hz``), each event spike
    jittered by 2 ms. Class ``synchronous`` units take part in the recording's shared
    event train, so they fire together within a 20 ms bin; class ``independent`` units
    take part, with the same participation, in a copy of that train whose 10 s blocks are
    in a random order of their own (a Poisson process has independent increments, so
    the copy is the same process). Both classes are Poisson with the same rates, and
    every unit sees the same set of event blocks: only their alignment with the other
    units differs.
`waveform_only`
    Poisson spike trains from one rate distribution; the peak-channel waveform is narrow
    (trough-to-peak 0.35 +- 0.08 ms) or broad (0.70 +- 0.15 ms), the two clusters of
    cortical extracellular spikes (Barthó et al., J Neurophysiol 2004; the Allen
    Neuropixels units, Jia et al., J Neurophysiol 2019, split near 0.4 ms).
`isi_only`
    Gamma renewal processes of the same rate distribution and shape 1 (Poisson, ISI CV 1)
    or 4 (regular, CV 0.5), within the range of ISI regularity measured across cortical
    neurons (local variation LV ~0.3-1.5, Shinomoto et al., PLoS Comput Biol 2009; gamma
    shapes ~1-4, Maimon & Assad, Neuron 2009). Waveforms from one distribution.
`behaviour_following`
    Each recording has a running speed and a pupil trace, the same monotone function of
    one periodic Ornstein-Uhlenbeck-like latent (time constant ``behaviour_tau_s``, 2 s),
    the pupil's shifted by half the recording, so the two are as unrelated at lag 0 as
    two independent draws but have exactly the same statistics. A unit's rate is
    ``r exp(g z(t))``, normalised to mean r over the recording (`modulation`), with z the
    latent of running (class ``running``) or of pupil (class ``pupil``); r and g come from
    the same distributions in both classes. Running about doubles visual cortical rates
    (Niell & Stryker, Neuron 2010); pupil-linked arousal modulates them by a similar
    factor (Reimer et al., Neuron 2014; Vinck et al., Neuron 2015): g ~ U(0.4, 0.8), a
    2-5 fold rate change between z = -1 and z = +1.
`population_coupling`
    Rates ``r exp(g z(t))`` as above, z a periodic latent with a 1 s time constant: class
    ``coupled`` units share the recording's latent (they follow the population rate,
    Okun et al., Nature 2015, "choristers"); each class ``uncoupled`` unit follows the same
    latent circularly shifted by an offset of its own (at least 10 time constants), out
    of step with the population ("soloists"). Slow co-variation, not the within-bin
    synchrony of `coactivity`.

Why copies of one realisation rather than independent draws: the units of one class in
one recording share a realisation (an event train, a latent), and a finite realisation
has incidental statistics (its spectrum, its particular sequence of windows) that a probe
trained on units of the same recording could learn, even from a method that reads each
unit alone. With shifted or block-shuffled copies, every unit's own activity has the same
realised statistics in both classes, so the "at chance" checks are real nulls.

Common to every dataset: per-unit base rates are lognormal (median 4 Hz, sigma 0.5; the
skewed distribution of cortical rates, Buzsáki & Mizuseki, Nat Rev Neurosci 2014), drawn
from one distribution for both classes; units of the two classes alternate in a random
order within each recording; one stimulus epoch ("spontaneous") spans each recording.
The signal strengths are set so that the channel is clearly present (this is a unit test
of what a method reads, not a realistic population); they were chosen from the cited
ranges before any method was run on them, never tuned to a method's score.

`probe_score` trains a linear probe per recording on half of its units and tests it on
the other half (`probe_split`); `null_sd` is the standard deviation of the balanced
accuracy of a classifier that ignores the data (see the function).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from neuronbench.data.recording import Recording, neuron_id
from neuronbench.data.synthetic import WAVEFORM_RATE, waveform_shapes

LABEL = "capability"
"""The label column of every capability dataset."""

CLASSES: dict[str, tuple[str, str]] = {
    "coactivity": ("synchronous", "independent"),
    "waveform_only": ("narrow", "broad"),
    "isi_only": ("poisson", "regular"),
    "behaviour_following": ("running", "pupil"),
    "population_coupling": ("coupled", "uncoupled"),
}
"""The two classes of each dataset (first: the one that carries the channel's signal)."""

RATE_MEDIAN_HZ = 4.0
RATE_LOG_SD = 0.5
TROUGH_TO_PEAK_MS: dict[str, tuple[float, float]] = {"narrow": (0.35, 0.08), "broad": (0.70, 0.15)}


# --- building blocks ---------------------------------------------------------------


def base_rates(rng: np.random.Generator, n: int) -> np.ndarray:
    """Lognormal base rates (Hz), median `RATE_MEDIAN_HZ`, log-sd `RATE_LOG_SD`."""
    return RATE_MEDIAN_HZ * np.exp(RATE_LOG_SD * rng.standard_normal(n))


def poisson_train(rng: np.random.Generator, rate: float, duration: float) -> np.ndarray:
    """Sorted spike times of a homogeneous Poisson process on [0, duration)."""
    return np.sort(rng.uniform(0.0, duration, rng.poisson(rate * duration)))


def gamma_train(rng: np.random.Generator, rate: float, shape: float, duration: float) -> np.ndarray:
    """A stationary gamma renewal process of mean rate ``rate`` on [0, duration): ISIs
    gamma(shape, 1 / (shape rate)), started 20 mean ISIs before 0 (burn-in)."""
    burn = 20.0 / rate
    n = int(math.ceil((duration + burn) * rate * 1.5 + 50))
    t = np.cumsum(rng.gamma(shape, 1.0 / (shape * rate), n)) - burn
    while t[-1] < duration:  # rare: draw more intervals
        t = np.concatenate([t, t[-1] + np.cumsum(rng.gamma(shape, 1.0 / (shape * rate), n))])
    return t[(t >= 0.0) & (t < duration)]


def periodic_latent(rng: np.random.Generator, n_steps: int, dt: float, tau: float) -> np.ndarray:
    """(n_steps,) a periodic Gaussian process with the Ornstein-Uhlenbeck spectrum
    1 / (1 + (2 pi f tau)^2) (time constant ``tau``), random phases, standardised to mean 0
    and sd 1. Periodic, so every circular shift of it is an equally valid realisation with
    exactly the same marginal histogram and autocorrelation: the classes follow shifted
    copies of one realisation (see `shifted`)."""
    f = np.fft.rfftfreq(n_steps, dt)
    amp = 1.0 / np.sqrt(1.0 + (2 * np.pi * f * tau) ** 2)
    coef = amp * (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f)))
    coef[0] = 0.0
    z = np.fft.irfft(coef, n_steps)
    return (z - z.mean()) / z.std()


def shifted(z: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """(len(shifts), len(z)): rows ``z`` circularly shifted by ``shifts`` steps."""
    idx = (np.arange(len(z))[None, :] + np.asarray(shifts)[:, None]) % len(z)
    return z[idx]


def modulation(z: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Rate factors ``exp(g z)`` of latents z (units, steps), divided by their mean over
    the recording: every unit's expected spike count is its base rate times the duration."""
    m = np.exp(g * z)
    return m / m.mean(axis=1, keepdims=True)


def cox_trains(rng: np.random.Generator, rates: np.ndarray, dt: float) -> list[np.ndarray]:
    """Spike trains of inhomogeneous Poisson processes whose rate (Hz) is constant within
    each ``dt`` step: ``rates`` is (units, steps); spikes are uniform within their step."""
    counts = rng.poisson(rates * dt)
    unit, step = np.nonzero(counts)
    reps = counts[unit, step]
    times = (np.repeat(step, reps) + rng.random(int(reps.sum()))) * dt
    unit = np.repeat(unit, reps)
    order = np.lexsort((times, unit))
    bounds = np.searchsorted(unit[order], np.arange(rates.shape[0] + 1))
    times = times[order]
    return [times[bounds[i]:bounds[i + 1]] for i in range(rates.shape[0])]


def waveforms(rng: np.random.Generator, trough_to_peak_ms: np.ndarray) -> np.ndarray:
    """(units, 90) peak-channel waveforms (uV) at 30 kHz, trough at 1 ms, with a
    lognormal amplitude (median 80 uV) and a peak / trough ratio uniform in 0.2-0.5
    (`neuronbench.data.synthetic.waveform_shapes`)."""
    tp = np.clip(trough_to_peak_ms, 0.1, 1.5)
    amplitude = 80.0 * np.exp(0.4 * rng.standard_normal((len(tp), 1)))
    ratio = rng.uniform(0.2, 0.5, len(tp))
    return waveform_shapes(tp, ratio, amplitude, rng)


def shared_waveforms(rng: np.random.Generator, n: int) -> np.ndarray:
    """Waveforms from one distribution for every unit (the same in both classes): the
    trough-to-peak time is uniform over both clusters' range, 0.3-0.9 ms."""
    return waveforms(rng, rng.uniform(0.3, 0.9, n))


def class_order(rng: np.random.Generator, n_units: int, classes: tuple[str, str]) -> np.ndarray:
    """Balanced labels (n_units // 2 of each class, plus one of the first if odd) in a
    random order."""
    labels = np.array([classes[i % 2] for i in range(n_units)], dtype=object)
    return labels[rng.permutation(n_units)]


def make_recording(name: str, index: int, trains: Sequence[np.ndarray], labels: np.ndarray, duration: float, *,
                   waves: np.ndarray | None = None, behaviour: pd.DataFrame | None = None) -> Recording:
    """One validated recording ``<name>/r<index>`` (animal ``m<index>``) of the given
    spike trains and labels; units ``u000``, ``u001``, ..."""
    rec_id = f"r{index}"
    units = [f"u{i:03d}" for i in range(len(trains))]
    ids = [neuron_id(name, rec_id, u) for u in units]
    neurons = pd.DataFrame({"neuron_id": ids, "unit": units, "track_id": [None] * len(units),
                            "x": np.nan, "y": np.nan, "z": np.nan})
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in trains])]).astype(np.int64)
    return Recording(
        dataset=name, animal=f"m{index}", recording=rec_id, modality="spikes", neurons=neurons,
        t_start=0.0, t_stop=float(duration),
        epochs=pd.DataFrame({"start": [0.0], "stop": [float(duration)], "stimulus": ["spontaneous"]}),
        spike_times=np.concatenate([np.zeros(0), *trains]).astype(np.float64), spike_offsets=offsets,
        waveforms=waves, waveform_rate=None if waves is None else WAVEFORM_RATE, behaviour=behaviour,
        labels=pd.DataFrame({"neuron_id": ids, LABEL: list(labels)}),
    ).validate()


def _rngs(seed: int, name: str, n_recordings: int) -> list[np.random.Generator]:
    key = sum(ord(c) * 31**i for i, c in enumerate(name)) % (2**31)
    return [np.random.default_rng([seed, key, r]) for r in range(n_recordings)]


# --- the datasets --------------------------------------------------------------------


def coactivity(*, seed: int = 0, n_recordings: int = 2, n_units: int = 200, duration_s: float = 120.0,
               event_hz: float = 2.0, participation: tuple[float, float] = (0.3, 0.7), jitter_s: float = 0.002,
               block_s: float = 10.0) -> list[Recording]:
    """Within-window co-activity only (see the module docstring). A unit's rate is its
    lognormal base rate plus ``participation * event_hz``. Independent units take part
    in a block-shuffled copy of the shared event train: its ``block_s`` blocks in a random
    order of their own (a Poisson process has independent increments, so the copy is the
    same process). Every unit thus sees the same set of event blocks, in the shared order
    (synchronous) or in its own (independent): any function of a unit's own activity in
    windows that tile the blocks (NuCLR reads 5 s or 10 s windows), pooled over windows,
    has the same distribution in both classes. An independent unit is in step with the
    shared train in 1 / (blocks) of the blocks on average."""
    name, classes = "capability-coactivity", CLASSES["coactivity"]
    n_blocks = int(round(duration_s / block_s))
    recs = []
    for r, rng in enumerate(_rngs(seed, name, n_recordings)):
        labels = class_order(rng, n_units, classes)
        shared = poisson_train(rng, event_hz, duration_s)
        block = np.minimum((shared // block_s).astype(np.int64), n_blocks - 1)
        trains = []
        for label, rate, p in zip(labels, base_rates(rng, n_units), rng.uniform(*participation, n_units)):
            events = shared
            if label != classes[0]:
                events = np.sort(shared + (rng.permutation(n_blocks)[block] - block) * block_s)
            joined = events[rng.random(len(events)) < p]
            joined = joined + jitter_s * rng.standard_normal(len(joined))
            joined = joined[(joined >= 0.0) & (joined < duration_s)]
            trains.append(np.sort(np.concatenate([poisson_train(rng, rate, duration_s), joined])))
        recs.append(make_recording(name, r, trains, labels, duration_s, waves=shared_waveforms(rng, n_units)))
    return recs


def waveform_only(*, seed: int = 0, n_recordings: int = 2, n_units: int = 200, duration_s: float = 60.0
                  ) -> list[Recording]:
    """The label lives only in the waveform width (see the module docstring)."""
    name, classes = "capability-waveform", CLASSES["waveform_only"]
    recs = []
    for r, rng in enumerate(_rngs(seed, name, n_recordings)):
        labels = class_order(rng, n_units, classes)
        trains = [poisson_train(rng, rate, duration_s) for rate in base_rates(rng, n_units)]
        mean = np.array([TROUGH_TO_PEAK_MS[c][0] for c in labels])
        sd = np.array([TROUGH_TO_PEAK_MS[c][1] for c in labels])
        recs.append(make_recording(name, r, trains, labels, duration_s,
                                   waves=waveforms(rng, mean + sd * rng.standard_normal(n_units))))
    return recs


def isi_only(*, seed: int = 0, n_recordings: int = 2, n_units: int = 200, duration_s: float = 60.0,
             shapes: tuple[float, float] = (1.0, 4.0)) -> list[Recording]:
    """The label lives only in the ISI distribution (gamma shape), at the same rates."""
    name, classes = "capability-isi", CLASSES["isi_only"]
    recs = []
    for r, rng in enumerate(_rngs(seed, name, n_recordings)):
        labels = class_order(rng, n_units, classes)
        trains = [gamma_train(rng, rate, shapes[classes.index(c)], duration_s)
                  for c, rate in zip(labels, base_rates(rng, n_units))]
        recs.append(make_recording(name, r, trains, labels, duration_s, waves=shared_waveforms(rng, n_units)))
    return recs


def behaviour_following(*, seed: int = 0, n_recordings: int = 2, n_units: int = 200, duration_s: float = 120.0,
                        dt: float = 0.01, behaviour_tau_s: float = 2.0, gain: tuple[float, float] = (0.4, 0.8)
                        ) -> list[Recording]:
    """The label is which behavioural variable (running or pupil) a unit's rate follows."""
    name, classes = "capability-behaviour", CLASSES["behaviour_following"]
    n_steps = int(round(duration_s / dt))
    recs = []
    for r, rng in enumerate(_rngs(seed, name, n_recordings)):
        labels = class_order(rng, n_units, classes)
        # pupil follows the running latent shifted by half the recording: the same
        # realisation, so the two classes' own activity has exactly the same statistics
        base = periodic_latent(rng, n_steps, dt, behaviour_tau_s)
        latent = shifted(base, np.array([0, n_steps // 2]))  # running, pupil
        g = rng.uniform(*gain, n_units)[:, None]
        z = latent[[classes.index(c) for c in labels]]
        trains = cox_trains(rng, base_rates(rng, n_units)[:, None] * modulation(z, g), dt)
        # the same monotone map for both variables: only their latents differ
        behaviour = pd.DataFrame({"time": np.arange(n_steps) * dt, "running_speed": 10.0 * np.exp(0.5 * latent[0]),
                                  "pupil": 10.0 * np.exp(0.5 * latent[1])})
        recs.append(make_recording(name, r, trains, labels, duration_s, waves=shared_waveforms(rng, n_units),
                                   behaviour=behaviour))
    return recs


def population_coupling(*, seed: int = 0, n_recordings: int = 2, n_units: int = 200, duration_s: float = 120.0,
                        dt: float = 0.01, coupling_tau_s: float = 1.0, gain: tuple[float, float] = (0.4, 0.8)
                        ) -> list[Recording]:
    """The label is whether a unit follows the population's shared rate fluctuation or a
    private one with the same law."""
    name, classes = "capability-coupling", CLASSES["population_coupling"]
    n_steps = int(round(duration_s / dt))
    recs = []
    for r, rng in enumerate(_rngs(seed, name, n_recordings)):
        labels = class_order(rng, n_units, classes)
        # uncoupled units follow the population's latent circularly shifted by a random
        # offset of their own (at least 10 time constants): the same realisation, not in
        # step with the population
        latent = periodic_latent(rng, n_steps, dt, coupling_tau_s)
        gap = int(round(10 * coupling_tau_s / dt))
        offsets = rng.integers(gap, n_steps - gap, n_units)
        z = shifted(latent, np.where(labels == classes[0], 0, offsets))
        g = rng.uniform(*gain, n_units)[:, None]
        trains = cox_trains(rng, base_rates(rng, n_units)[:, None] * modulation(z, g), dt)
        recs.append(make_recording(name, r, trains, labels, duration_s, waves=shared_waveforms(rng, n_units)))
    return recs


DATASETS = {"coactivity": coactivity, "waveform_only": waveform_only, "isi_only": isi_only,
            "behaviour_following": behaviour_following, "population_coupling": population_coupling}


# --- the probe's split and its null ---------------------------------------------------


def labels_of(recordings: Sequence[Recording]) -> pd.Series:
    """neuron_id -> label of every unit."""
    return pd.concat([pd.Series(rec.labels[LABEL].to_numpy(), index=rec.neuron_ids.astype(str))
                      for rec in recordings])


def probe_split(recordings: Sequence[Recording], seed: int = 0) -> dict[str, tuple[list[str], list[str]]]:
    """recording id -> (train ids, test ids): half of each class of each recording
    (seeded) trains that recording's probe, the other half tests it."""
    rng = np.random.default_rng(seed)
    out = {}
    for rec in recordings:
        ids, labels = rec.neuron_ids.astype(str), rec.labels[LABEL].to_numpy()
        train, test = [], []
        for c in sorted(set(labels)):
            members = rng.permutation(ids[labels == c])
            train += list(members[: len(members) // 2])
            test += list(members[len(members) // 2:])
        out[rec.recording] = (train, test)
    return out


def probe_score(embedding: pd.DataFrame, recordings: Sequence[Recording], seed: int = 0) -> tuple[float, int]:
    """(balanced accuracy, number of test units) of linear probes on ``embedding`` (index
    neuron_id): one probe per recording (`neuronbench.probes.LinearProbe`, C = 1), trained
    on the `probe_split` train half of its units and tested on the other half; the test
    predictions of all recordings are pooled.

    One probe per recording, because the question is whether a unit's embedding tells its
    class apart from the other units of its recording: a method whose contrast is only
    within a recording (NuCLR's negatives are the units of the same window) need not put
    the classes along the same direction in every recording. The datasets make this
    safe: the units of both classes follow shifted copies of one realisation, so no
    statistic of a unit's own channels differs between the classes of a recording."""
    from sklearn.metrics import balanced_accuracy_score

    from neuronbench.probes import LinearProbe

    labels = labels_of(recordings)
    truth, pred = [], []
    for train, test in probe_split(recordings, seed).values():
        probe = LinearProbe().fit(embedding.loc[train].to_numpy(np.float64), labels.loc[train].to_numpy().astype(str))
        pred += list(probe.predict(embedding.loc[test].to_numpy(np.float64)))
        truth += list(labels.loc[test].to_numpy().astype(str))
    return float(balanced_accuracy_score(truth, pred)), len(truth)


def null_sd(n_test: int, n_classes: int = 2) -> float:
    """Standard deviation of the balanced accuracy on ``n_test`` balanced test units when
    the embedding carries nothing about the label: the labels are a random balanced
    assignment independent of the predictions, so the number of hits is hypergeometric,
    no more spread than binomial with p = 1 / n_classes: sd <= sqrt(p (1 - p) / n_test)
    (with balanced classes, balanced accuracy is accuracy)."""
    p = 1.0 / n_classes
    return math.sqrt(p * (1.0 - p) / n_test)


def assembly_classes(sizes: tuple[int, ...]) -> tuple[str, ...]:
    """The labels of assemblies of ``sizes`` units: ``size32``, ``size16``, ..."""
    return tuple(f"size{k}" for k in sizes)


def assemblies(*, seed: int = 0, n_recordings: int = 2, sizes: tuple[int, ...] = (32, 16, 4), per_class: int = 32,
               duration_s: float = 120.0, dt: float = 0.01, rate_hz: float = 4.0, gain: float = 1.0,
               tau_s: float = 1.0, block_s: float = 10.0) -> list[Recording]:
    """A capability dataset that only a population-context method can solve: each
    recording has assemblies of different sizes; the label is the size of a unit's
    assembly (``sizes``: 32, 16 or 4 units), each class ``per_class`` units in
    ``per_class / size`` assemblies (one of 32, two of 16, eight of 4 by default), the
    units in a random order. Every unit is the same process: an inhomogeneous
    Poisson process of mean rate ``rate_hz`` modulated by ``exp(gain z(t))`` (`modulation`), z a
    periodic latent with time constant ``tau_s`` (`periodic_latent`). The assemblies follow
    circular shifts of one latent realisation by distinct multiples of ``block_s`` (as
    `coactivity`'s independent units use block-shuffled copies of its shared train): every
    unit of every assembly sees the same blocks of one realisation, in a different order,
    so any function of a unit's own activity in windows that tile the blocks (NuCLR reads
    5 s or 10 s windows), pooled over windows, has the same distribution in every assembly.
    Only whom a unit co-varies with, and so how many units rise and fall with it, says
    which class it belongs to; that count is a property a unit keeps from window to window,
    which a within-recording contrastive objective can use (assemblies of one size are
    interchangeable, so a unit's assembly itself is not: no window-to-window code for it).

    Scored with the per-recording probe (`probe_score`): balanced classes, chance
    1 / len(sizes), null spread `null_sd`.
    """
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
