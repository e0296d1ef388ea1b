"""Why NuCLR does not learn `coactivity`: cheap measurements without training (numpy only).

For each dataset: (1) whether co-activity is visible at NuCLR's resolution (20 ms bins,
50-bin tokens, 10 s windows): a hand-made per-window coincidence feature and its
per-recording probe score, at 20 ms and at 1 s bins; (2) what the within-recording
re-identification task (NuCLR's contrastive task: find a unit of view 1 among the N
units of view 2) gains from rate alone, from the label alone and from the label on top
of rate, as the InfoNCE cross-entropy of the best score of each form (log N = nothing
known) and top-1 accuracy. Usage: python scripts/nuclr_population_diagnosis.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from neuronbench.testing_capability import assemblies
from neuronbench import testing_capability as capability

BIN_S, WINDOW_S = 0.02, 10.0


def binned(rec, bin_s: float) -> np.ndarray:
    n = int(round(rec.duration / bin_s))
    out = np.zeros((rec.n_units, n), dtype=np.float32)
    for i in range(rec.n_units):
        t = rec.spike_times[rec.spike_offsets[i]:rec.spike_offsets[i + 1]]
        np.add.at(out[i], np.minimum((t / bin_s).astype(int), n - 1), 1)
    return out


def coincidence(x: np.ndarray) -> np.ndarray:
    """(units,) other units' spikes in a unit's bins per own spike, minus the number
    expected if the units were independent."""
    others = x.sum(0, keepdims=True) - x
    own = x.sum(1)
    per_spike = (x * others).sum(1) / np.maximum(own, 1)
    return per_spike - others.sum(1) / x.shape[1]


def visibility(recs, bin_s: float, first_class: str) -> tuple[float, float]:
    """(per-recording probe score of the window-averaged coincidence feature, mean
    per-window AUC of the feature for ``first_class`` vs the rest)."""
    feats, aucs = [], []
    for rec in recs:
        x = binned(rec, bin_s)
        per = int(round(WINDOW_S / bin_s))
        c = np.stack([coincidence(x[:, s:s + per]) for s in range(0, x.shape[1] - per + 1, per)])
        lab = rec.labels[capability.LABEL].to_numpy()
        first = lab == first_class
        aucs += [roc_auc_score(first, row) for row in c]
        feats.append(pd.DataFrame({"c": c.mean(0)}, index=rec.neuron_ids.astype(str)))
    return capability.probe_score(pd.concat(feats), recs)[0], float(np.mean(aucs))


def reidentification(recs, rng: np.random.Generator, n_pairs: int = 40) -> dict[str, tuple[float, float]]:
    """Name -> (InfoNCE cross-entropy in nats, top-1 accuracy) of re-identifying each unit
    of a 10 s window among the units of another window of its recording, for scores
    built from log rate (Gaussian, best width), the label (same-label bonus, best
    size) and both; plus log N."""
    out: dict[str, list] = {}
    for rec in recs:
        counts = binned(rec, WINDOW_S)  # (units, windows): spikes per 10 s window
        lab = rec.labels[capability.LABEL].to_numpy()
        same = (lab[:, None] == lab[None, :]).astype(float)
        for _ in range(n_pairs // len(recs)):
            w1, w2 = rng.choice(counts.shape[1], 2, replace=False)
            a, b = np.log(counts[:, w1] + 0.5), np.log(counts[:, w2] + 0.5)
            d2 = (a[:, None] - b[None, :]) ** 2
            scores = {"log N": np.zeros_like(d2)}
            for s in (0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 3.0, 10.0):
                scores[f"rate {s}"] = -d2 / (2 * s * s)
                for beta in (0.5, 1, 2, 5, 20):
                    scores[f"rate+label {s} {beta}"] = -d2 / (2 * s * s) + beta * same
            for beta in (0.5, 1, 2, 5, 20):
                scores[f"label {beta}"] = beta * same
            for k, s in scores.items():
                logp = s - np.logaddexp.reduce(s, axis=1, keepdims=True)
                out.setdefault(k, []).append((-np.mean(np.diag(logp)), np.mean(np.argmax(s, 1) == np.arange(len(s)))))
    mean = {k: tuple(np.mean(v, axis=0)) for k, v in out.items()}
    best = {}
    for kind in ("log N", "rate", "label", "rate+label"):
        keys = [k for k in mean if k == kind or k.startswith(kind + " ") and (kind != "rate" or "label" not in k)]
        best[kind] = min((mean[k] for k in keys), key=lambda v: v[0])
    return best


def main() -> None:
    rng = np.random.default_rng(0)
    cases = {
        "coactivity": capability.coactivity(),
        "coactivity, one rate and participation": None,
        "assemblies": assemblies(),
    }
    old = capability.RATE_LOG_SD
    capability.RATE_LOG_SD = 0.0
    cases["coactivity, one rate and participation"] = capability.coactivity(participation=(0.5, 0.5))
    capability.RATE_LOG_SD = old
    for name, recs in cases.items():
        n = recs[0].n_units
        first = "size32" if name == "assemblies" else capability.CLASSES["coactivity"][0]
        print(f"## {name} ({len(recs)} recordings x {n} units)")
        for bin_s in (0.02, 1.0):
            score, auc = visibility(recs, bin_s, first)
            print(f"coincidence feature at {bin_s * 1000:.0f} ms bins: probe {score:.3f}, per-window AUC {auc:.3f}")
        for kind, (ce, top1) in reidentification(recs, rng).items():
            print(f"re-identification, {kind}: cross-entropy {ce:.3f} nats, top-1 {top1:.3f}")


if __name__ == "__main__":
    main()
