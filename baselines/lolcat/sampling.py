"""What LOLCAT trains on: the validation carve-out, class-rebalanced epochs, snippet dropout.

- Validation carve-out (ours: the harness hands a supervised method only the probe-train
  labels, and LOLCAT chooses its model by validation macro-F1, so the validation neurons
  must come out of those labels). Per class, a seeded shuffle of the class's *groups* (a
  neuron tracked across recordings is one group, ``<animal>/<track_id>``, as in
  `neuronbench.splits`) puts ``round(fraction * n)`` of them in validation, at least one
  and never all; a class with a single group stays in training.
- Class-rebalanced epochs (the authors' ``hengenlab/lolcat`` ``MySampler``): class c is
  oversampled by f_c = clip(n_majority / n_c, 1, 200): each of its neurons appears
  floor(f_c) times, plus a random ``frac(f_c)`` share of them once more; the pool is
  shuffled and its first n (the number of training neurons) make the epoch. The
  ``MySampler.step`` variant that re-tunes f_c each epoch from train and validation
  losses appears in some of their scripts only; it is not implemented.
- Snippet dropout (``lolcat/transforms.py`` ``Dropout``): every snippet of a neuron is
  removed with probability p for each training sample. Correction: the original can
  remove all of a neuron's snippets (which misaligns its batch); we keep the snippet with
  the largest draw when that happens.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

MAX_OVERSAMPLING = 200.0


def validation_split(labels: pd.Series, groups: pd.Series, fraction: float, seed: int
                     ) -> tuple[list[str], list[str]]:
    """(train ids, validation ids) of ``labels`` (neuron_id -> class); ``groups`` maps
    each neuron_id to its group. Stratified by class, seeded, groups never split."""
    if not 0 <= fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"label": labels.astype(str), "group": groups.loc[labels.index].astype(str)})
    val_groups: list[str] = []
    for _, g in table.groupby("label", sort=True):
        keys = np.array(sorted(g["group"].unique()))
        n_val = 0 if len(keys) < 2 or fraction == 0 else int(np.clip(round(fraction * len(keys)), 1, len(keys) - 1))
        val_groups.extend(rng.permutation(keys)[:n_val].tolist())
    is_val = table["group"].isin(val_groups)
    return sorted(table.index[~is_val]), sorted(table.index[is_val])


def oversampling_factors(y: np.ndarray, n_classes: int) -> np.ndarray:
    """f_c = clip(n_majority / n_c, 1, 200) for each class present (0 for absent ones)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return np.where(counts > 0, np.clip(counts.max() / np.maximum(counts, 1), 1.0, MAX_OVERSAMPLING), 0.0)


def balanced_epoch(y: np.ndarray, n_classes: int, generator: torch.Generator) -> np.ndarray:
    """Indices into ``y`` (class index per training neuron) for one class-rebalanced epoch
    of ``len(y)`` samples."""
    pool = []
    for c, f in enumerate(oversampling_factors(y, n_classes)):
        idx = torch.from_numpy(np.nonzero(y == c)[0])
        if f == 0:
            continue
        pool.append(idx.repeat(int(f)))
        extra = int(len(idx) * (f - int(f)))
        pool.append(idx[torch.randperm(len(idx), generator=generator)[:extra]])
    pool_t = torch.cat(pool)
    return pool_t[torch.randperm(len(pool_t), generator=generator)[: len(y)]].numpy()


def snippet_dropout(valid: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Keep-mask (neurons, snippets): each valid snippet kept with probability 1 - p, and
    at least one per neuron (the one with the largest draw when all were dropped)."""
    draw = torch.rand(valid.shape, generator=generator).to(valid.device)
    draw = draw.masked_fill(~valid, -1.0)
    keep = (draw > p) & valid
    empty = ~keep.any(dim=1)
    if empty.any():
        rows = torch.nonzero(empty).squeeze(1)
        keep[rows, draw[rows].argmax(dim=1)] = True
    return keep
