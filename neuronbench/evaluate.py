"""The one way to score an embedding: frozen vectors -> probes -> metrics, per fold.

Input format: an embedding table (index ``neuron_id``), a label per neuron, and the
train / val / test neuron ids of a fold. Every probe is tuned on the validation ids
only and scored on the test ids. The linear probe is deterministic, so it runs once;
the stochastic probes (MLP, XGBoost) run once per probe seed (evaluation.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from neuronbench.metrics import chance_levels, classification_metrics
from neuronbench.probes import make_probe

DETERMINISTIC_PROBES = ("linear",)


def evaluate_fold(
    embeddings: pd.DataFrame,
    labels: Mapping[str, str] | pd.Series,
    train: Sequence[str],
    val: Sequence[str],
    test: Sequence[str],
    classes: Sequence[str],
    probes: Sequence[str],
    probe_seeds: Sequence[int],
) -> dict[str, Any]:
    """Fit and score every probe on one fold.

    Returns ``{"y_true": {neuron_id, label}, "chance": {...}, "probes": {name: [entry]}}``
    where an entry is ``{probe_seed, params, metrics, y_pred}`` (the record format of
    `neuronbench.results`).
    """
    labels = pd.Series(labels)

    def xy(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        ids = list(ids)
        return embeddings.loc[ids].to_numpy(dtype=np.float64), labels.loc[ids].to_numpy(dtype=object).astype(str)

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = xy(train), xy(val), xy(test)
    out: dict[str, Any] = {
        "y_true": {"neuron_id": list(test), "label": y_te.tolist()},
        "chance": chance_levels(y_te.tolist(), classes),
        "probes": {},
    }
    has_val = len(val) > 0
    for name in probes:
        entries = []
        for seed in probe_seeds[:1] if name in DETERMINISTIC_PROBES else probe_seeds:
            probe = make_probe(name, seed)
            if has_val:
                probe.fit(x_tr, y_tr, X_val=x_va, y_val=y_va)
            else:
                probe.fit(x_tr, y_tr)
            y_pred = np.asarray(probe.predict(x_te)).astype(str)
            entries.append(
                {
                    "probe_seed": int(seed),
                    "params": getattr(probe, "best_params_", None),
                    "metrics": classification_metrics(y_te.tolist(), y_pred.tolist(), classes),
                    "y_pred": y_pred.tolist(),
                }
            )
        out["probes"][name] = entries
    return out
