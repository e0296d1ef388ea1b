"""Score against training steps on a population capability dataset: NuCLR, NuCLR with
units alone at embed time (`Encoder.units_alone`, same fit) and nuclr-nospatial, each
fit seed 0, one thread. Usage:

    python scripts/nuclr_population_curve.py [assemblies|coactivity] [preset] [epochs ...]
    [--override key=value ...]

Prints one markdown table row per fit (the table of docs/nuclr-population.md)."""

from __future__ import annotations

import json
import sys
import time

from neuronbench.capability_population import assemblies
from neuronbench.data import capability
from neuronbench.device import torch_threads
from neuronbench.registry import get_method


def main(argv: list[str]) -> None:
    overrides = {}
    if "--override" in argv:
        at = argv.index("--override")
        overrides = {k: json.loads(v) for k, v in (a.split("=", 1) for a in argv[at + 1:])}
        argv = argv[:at]
    name, preset, *epochs = argv or ["assemblies", "tiny", "2", "20", "80"]
    recs = assemblies() if name == "assemblies" else capability.DATASETS[name]()
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
