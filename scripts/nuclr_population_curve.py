"""Score against training steps on a population capability dataset: NuCLR, NuCLR with
units alone at embed time (`Encoder.units_alone`, same fit) and nuclr-nospatial, each
fit seed 0, one thread. Usage:

    python scripts/nuclr_population_curve.py [assemblies|assemblies-events|coactivity] [preset]
    [epochs ...] [--override key=value ...]

``assemblies-events``: the assemblies of `assemblies` (sizes 32, 16, 4), but co-firing
within 20 ms instead of co-varying over ~1 s: each assembly shares a jittered (2 ms)
Poisson event train (3 Hz, participation 0.7, plus a 2 Hz Poisson background), the
trains being block shifts of one realisation, as in `assemblies`.

Prints one markdown table row per fit (the table of docs/nuclr-population.md)."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from neuronbench.testing_capability import assemblies, assembly_classes
from neuronbench import testing_capability as capability
from neuronbench.testing_capability import (
    _rngs,
    make_recording,
    poisson_train,
    shared_waveforms,
)
from neuronbench.device import torch_threads
from neuronbench.registry import get_method


def assemblies_events(sizes=(32, 16, 4), per_class=32, duration_s=120.0, block_s=10.0, event_hz=3.0,
                      participation=0.7, background_hz=2.0, jitter_s=0.002) -> list:
    n_blocks = int(round(duration_s / block_s))
    classes = np.array(assembly_classes(sizes), dtype=object)
    size_class = np.repeat(np.arange(len(sizes)), [per_class // k for k in sizes])
    recs = []
    for r, rng in enumerate(_rngs(0, "capability-assemblies-events", 2)):
        member = rng.permutation(np.repeat(np.arange(len(size_class)), [sizes[c] for c in size_class]))
        shared = poisson_train(rng, event_hz, duration_s)
        shifts = rng.permutation(n_blocks)[: len(size_class)] * block_s
        trains = []
        for a in member:
            events = np.sort((shared + shifts[a]) % duration_s)
            joined = events[rng.random(len(events)) < participation]
            joined = np.clip(joined + jitter_s * rng.standard_normal(len(joined)), 0.0, np.nextafter(duration_s, 0))
            trains.append(np.sort(np.concatenate([poisson_train(rng, background_hz, duration_s), joined])))
        recs.append(make_recording("capability-assemblies-events", r, trains, classes[size_class[member]],
                                   duration_s, waves=shared_waveforms(rng, len(member))))
    return recs


def main(argv: list[str]) -> None:
    overrides = {}
    if "--override" in argv:
        at = argv.index("--override")
        overrides = {k: json.loads(v) for k, v in (a.split("=", 1) for a in argv[at + 1:])}
        argv = argv[:at]
    name, preset, *epochs = argv or ["assemblies", "tiny", "2", "20", "80"]
    makers = {"assemblies": assemblies, "assemblies-events": assemblies_events, **capability.DATASETS}
    recs = makers[name]()
    unlabelled = [r.without_labels() for r in recs]
    k = len(set(capability.labels_of(recs)))
    print(f"| method | epochs | steps | score | units alone at embed | fit + embed (CPU s) |  chance {1 / k:.3f}")
    for method in ("nuclr", "nuclr-nospatial"):
        for e in map(int, epochs):
            info = get_method(method)
            model = info.build(info.config(preset, device="cpu", epochs_spikes=e, **overrides))
            start = time.process_time()
            with torch_threads(1):
                model.fit(unlabelled, seed=0)
                value = capability.probe_score(model.embed(unlabelled), recs)[0]
                alone = "-"
                if method == "nuclr":
                    with model.encoder_.units_alone():
                        alone = f"{capability.probe_score(model.embed(unlabelled), recs)[0]:.3f}"
            print(f"| {method} | {e} | {model.n_steps_} | {value:.3f} | {alone} | {time.process_time() - start:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
